#!/usr/bin/env bash
# Check both locks against the PyPI advisory database with pip-audit. pip-audit needs PyPI's JSON
# API; where it cannot reach it, it skips each package with "could not be audited" and still prints
# "No known vulnerabilities found". So count the skips, and say plainly what was NOT audited.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for lock in requirements.lock requirements-dev.lock; do
  total=$(grep -cE '^[A-Za-z0-9_.-]+==' "$lock")
  out=$(.venv/bin/pip-audit --disable-pip --require-hashes -r "$lock" --progress-spinner off 2>&1)
  rc=$?
  skipped=$(grep -c "could not be audited" <<<"$out")
  echo "$out" | grep -vE "could not be audited|^Name +Skip Reason|^-+ -+$"
  if [ "$skipped" -ge "$total" ]; then
    echo "[audit] $lock: the advisory database could not be reached; none of its $total packages was audited" >&2
    status=2
  elif [ "$skipped" -gt 0 ]; then
    echo "[audit] $lock: $skipped of $total packages could not be audited" >&2
    status=2
  elif [ $rc -ne 0 ]; then
    echo "[audit] $lock: known vulnerabilities (above)" >&2
    status=1
  else
    echo "[audit] $lock: $total packages audited, no known vulnerability"
  fi
done
exit $status

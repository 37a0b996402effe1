"""The roles of the consignes, exercise and resident sign-up routes, in one place, so that the
accounts work (duty, technician, viewer…) can map them without reading every handler."""

from __future__ import annotations

from api.auth import Role

INSTRUCTIONS_READ = Role.PUBLIC  # residents read what to do: the public page shows it
INSTRUCTIONS_WRITE = Role.ADMIN  # editing a commune's consignes
EXERCISES = Role.ADMIN  # starting a PCS exercise and reading its report
SIGNUP = Role.PUBLIC  # the sign-up form, opt-in, unsubscription, self-service deletion
SMS_INBOUND = Role.PUBLIC  # the SMS gateway's webhook: checked by its shared key instead
RESIDENTS_ADMIN = Role.ADMIN  # reach per commune, erasure on request (RGPD)

# review-api (issue 11 §1): the naturalists review; elected officials (viewer) read only.
REVIEW_READ = (Role.NATURALIST, Role.ADMIN, Role.VIEWER)  # events, media, deployments, species
REVIEW_WRITE = (Role.NATURALIST, Role.ADMIN)  # review state, observations, deployments, bulk
# people in the frame (issue 11 §1, RGPD): who sees events with a person, and flags them; an
# export that includes them (blurred) is an admin's decision.
PEOPLE_SEE = (Role.NATURALIST, Role.ADMIN)
PEOPLE_EXPORT = Role.ADMIN

# cameras (issue 11 §1): admins manage cameras and draw their masks; the review's readers see
# them, their health and their current view.
CAMERAS_READ = REVIEW_READ
CAMERAS_WRITE = (Role.ADMIN,)

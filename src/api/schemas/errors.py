"""The one error shape of the API, and which status codes each kind of route documents."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Each status with the French description OpenAPI shows and an example message.
_STATUS: dict[int, tuple[str, str]] = {
    400: ("Requête incorrecte", "requête refusée : en-tête ou paramètre illisible"),
    401: ("Authentification requise ou jeton invalide", "authentification requise"),
    403: ("Rôle insuffisant pour cette route", "accès refusé"),
    404: ("Ressource inconnue", "incident inconnu : 42"),
    405: ("Méthode non permise sur cette route", "méthode non permise"),
    409: ("Conflit avec l'état enregistré", "incident déjà résolu : il n'y a plus rien à prendre en compte"),
    413: ("Corps de requête trop volumineux", "corps de requête trop volumineux (au plus 65536 octets)"),
    422: ("Requête comprise mais refusée", "requête refusée : limit : doit être inférieur ou égal à 500"),
    429: ("Trop de demandes : réessayez plus tard", "trop de demandes : réessayez dans une heure"),
    500: ("Erreur interne", "erreur interne du serveur"),
    503: ("Service extérieur indisponible", "envoi impossible pour le moment : réessayez plus tard"),
}


class ErrorResponse(BaseModel):
    """Every error of the API: one French sentence, which never repeats the input."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": _STATUS[422][1]}]},
    )

    detail: str = Field(description="La raison, en français, lisible par l'utilisateur")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for these error codes, all with ErrorResponse."""
    return {
        code: {
            "model": ErrorResponse,
            "description": _STATUS[code][0],
            "content": {"application/json": {"example": {"detail": _STATUS[code][1]}}},
        }
        for code in codes
    }

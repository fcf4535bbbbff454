"""An HTTP client of the challenge server's JSON API, for the CLI and for scripts.

Example::

    client = ChallengeClient("http://127.0.0.1:8000", token="ssl_...")
    sub = client.submit("shapes-2026", Path("preds.csv"))
    print(sub["scores"]["public"]["top5_error"]["value"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from synsetlab.errors import UserError


class ClientError(UserError, ValueError):
    """The server refused a request (its message says why) or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ChallengeClient:
    """Calls to one server, with an optional API token."""

    def __init__(self, server: str, token: str | None = None, *, timeout: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def register(self, user: str, password: str, team: str | None = None) -> dict[str, Any]:
        """Create a user (and a team they own); the answer holds the API token, once."""
        return self._call(
            "POST", "/api/register", json={"user": user, "password": password, "team": team}
        )

    def token(self, user: str, password: str, *, name: str = "cli") -> dict[str, Any]:
        return self._call(
            "POST", "/api/tokens", json={"user": user, "password": password, "name": name}
        )

    def create_team(self, name: str) -> dict[str, Any]:
        return self._call("POST", "/api/teams", json={"name": name})

    def submit(self, challenge: str, path: Path, *, fmt: str | None = None) -> dict[str, Any]:
        with Path(path).open("rb") as f:
            data = {"format": fmt} if fmt else {}
            files = {"file": (Path(path).name, f)}
            return self._call(
                "POST", f"/api/challenges/{challenge}/submissions", files=files, data=data
            )

    def submissions(self, challenge: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/api/challenges/{challenge}/submissions")

    def challenge(self, challenge: str) -> dict[str, Any]:
        return self._call("GET", f"/api/challenges/{challenge}")

    def leaderboard(
        self, challenge: str, *, phase: str | None = None, private: bool = False, csv: bool = False
    ) -> dict[str, Any] | str:
        params = {
            "partition": "private" if private else "public",
            "format": "csv" if csv else "json",
        }
        if phase:
            params["phase"] = phase
        return self._call("GET", f"/api/challenges/{challenge}/leaderboard", params=params)

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            raise ClientError(
                f"cannot reach {self.server}: {e}; is `synsetlab serve` running?"
            ) from None
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            if not isinstance(detail, str):  # FastAPI's request validation errors
                detail = "; ".join(
                    f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in detail
                )
            raise ClientError(f"{response.status_code}: {detail}", response.status_code)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def close(self) -> None:
        self._http.close()

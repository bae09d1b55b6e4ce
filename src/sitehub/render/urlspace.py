"""Per-cluster URL spaces on the frontend: one sticky balancer per cluster.

Each cluster owns /jupyterhub/<segment>/ on the frontend. Requests there go
to a balancer over the cluster's hub instances; the ROUTEID cookie pins a
browser to one instance and is scoped to the cluster's path, so the clusters'
cookies never meet. Websockets travel the same balancer (mod_proxy_http's
upgrade=websocket), so a kernel's socket lands on the instance that started it.

Health checks: mod_proxy_hcheck builds its request line as the member URL's path, a '/',
then ``hcuri``. So ``health_uri`` is relative to the member URL (``hub/health``); an
absolute one would be requested as ``/jupyterhub/hpc//jupyterhub/hpc/hub/health``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sitehub.inventory.model import Cluster, SiteModel

ROUTE_COOKIE = "ROUTEID"
# JupyterHub's unauthenticated health endpoint, below the cluster's base URL.
HEALTH_URI = "hub/health"


@dataclass(frozen=True)
class BalancerMember:
    route: str
    host: str
    port: int
    url: str  # what Apache proxies to: the instance's proxy, with the cluster's base URL
    health_uri: str  # mod_proxy_hcheck's hcuri: relative to url, no leading '/'

    @property
    def health_check_path(self) -> str:
        """The path mod_proxy_hcheck requests: the member URL's path, '/', then hcuri."""
        return f"{urlsplit(self.url).path}/{self.health_uri}"


@dataclass(frozen=True)
class UrlSpace:
    segment: str
    title: str
    path: str  # "/jupyterhub/<segment>/", always with the trailing slash
    balancer: str  # "balancer://hub-<segment>"
    cookie_name: str
    cookie_attributes: str  # appended to the Set-Cookie Apache writes
    members: list[BalancerMember] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def url_space(cluster: Cluster, *, same_site: str = "Lax", scheme: str = "http") -> UrlSpace:
    path = cluster.base_url
    # the member URL carries no trailing slash: hcheck adds one before the hcuri
    members = [
        BalancerMember(
            route=instance.route,
            host=instance.host,
            port=instance.port,
            url=f"{scheme}://{instance.host}:{instance.port}{path.rstrip('/')}",
            health_uri=HEALTH_URI,
        )
        for instance in cluster.instances
    ]
    return UrlSpace(
        segment=cluster.segment,
        title=cluster.title,
        path=path,
        balancer=f"balancer://hub-{cluster.segment}",
        cookie_name=ROUTE_COOKIE,
        # The trailing slash keeps /jupyterhub/hpc/ from matching /jupyterhub/hpc-ic/.
        cookie_attributes=f"Path={path}; Secure; HttpOnly; SameSite={same_site}",
        members=members,
    )


def url_spaces(site: SiteModel, **kwargs: Any) -> list[UrlSpace]:
    return [url_space(cluster, **kwargs) for cluster in site.sitehub_clusters]


def route_cookie_header(space: UrlSpace) -> str:
    """The Set-Cookie value Apache adds when it picks (or changes) a member.

    Apache's sticky lookup reads the route after the first '.' of the cookie.
    """
    return f"{space.cookie_name}=.%{{BALANCER_WORKER_ROUTE}}e; {space.cookie_attributes}"

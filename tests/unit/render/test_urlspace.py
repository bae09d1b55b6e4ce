from sitehub.inventory.model import Cluster
from sitehub.render.urlspace import route_cookie_header, url_space


def cluster(segment="hpc", instances=None):
    return Cluster(
        segment=segment,
        title='HPC ✓ "quoted"',
        scheduler="local",
        instances=instances
        or [
            {"host": "hub1", "port": 8000, "route": "hub1"},
            {"host": "hub2", "port": 8001, "route": "hub-2"},
        ],
    )


def test_members_carry_routes_urls_and_health_checks():
    space = url_space(cluster())
    assert space.path == "/jupyterhub/hpc/"
    assert space.balancer == "balancer://hub-hpc"
    assert [(m.route, m.url) for m in space.members] == [
        ("hub1", "http://hub1:8000/jupyterhub/hpc"),
        ("hub-2", "http://hub2:8001/jupyterhub/hpc"),
    ]


def test_health_uri_is_relative_to_the_member():
    """mod_proxy_hcheck requests <member path> + '/' + hcuri: a relative hcuri lands on the
    hub's health endpoint, an absolute one would double the base path."""
    for member in url_space(cluster("hpc-ic")).members:
        assert member.health_uri == "hub/health"
        assert not member.health_uri.startswith("/")
        assert not member.url.endswith("/")
        assert member.health_check_path == "/jupyterhub/hpc-ic/hub/health"


def test_health_uri_survives_the_filter_and_json():
    """What the frontend template and `sitehub render` get: the same relative hcuri."""
    space = url_space(cluster()).as_dict()
    assert {m["health_uri"] for m in space["members"]} == {"hub/health"}


def test_cookie_is_scoped_to_the_cluster_path_and_hardened():
    header = route_cookie_header(url_space(cluster("hpc")))
    assert header.startswith("ROUTEID=.%{BALANCER_WORKER_ROUTE}e;")
    assert "Path=/jupyterhub/hpc/;" in header
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in header


def test_prefix_segments_do_not_share_cookie_paths():
    a = url_space(cluster("hpc")).cookie_attributes
    b = url_space(cluster("hpc-ic")).cookie_attributes
    path_a = a.split(";")[0].removeprefix("Path=")
    path_b = b.split(";")[0].removeprefix("Path=")
    # a browser sends a cookie when the request path starts with the cookie path
    assert not path_b.startswith(path_a)
    assert not "/jupyterhub/hpc-ic/lab".startswith(path_a)


def test_title_is_kept_verbatim_for_templates_to_escape():
    assert url_space(cluster()).title == 'HPC ✓ "quoted"'

"""Runs `georeport` (PyPI), an Open311 GeoReport v2 client written by others,
against a gridwarden server: reads the services, a service definition, the
request list and one request, in JSON and in XML. Called by
tests/tests/e2e/open311.rs with the base URL, the jurisdiction, a service
code and a request id; prints one line per check and exits non-zero on the
first failure."""

import sys

from georeport import GeoReport

base, jurisdiction, code, request_id = sys.argv[1:5]


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


for fmt in ("json", "xml"):
    client = GeoReport(base, jurisdiction=jurisdiction, output_format=fmt)
    services = client.get_service_list()
    if isinstance(services, dict):
        services = [services]
    check(f"{fmt}: services list {code}", any(s["service_code"] == code for s in services))
    definition = client.get_service_definition(code)
    check(f"{fmt}: definition of {code}", definition["service_code"] == code)
    requests = client.get_service_requests()
    if isinstance(requests, dict):
        requests = [requests]
    check(
        f"{fmt}: request list holds {request_id}",
        any(r["service_request_id"] == request_id for r in requests),
    )
    check(
        f"{fmt}: no contact field is public",
        all("email" not in r and "phone" not in r for r in requests),
    )
    one = client.get_service_request(request_id)
    check(f"{fmt}: request {request_id}", one["service_request_id"] == request_id)
    check(f"{fmt}: status is open or closed", one["status"] in ("open", "closed"))
    filtered = client.get_service_requests(service_request_id=request_id)
    if isinstance(filtered, dict):
        filtered = [filtered]
    check(f"{fmt}: filter by id", [r["service_request_id"] for r in filtered] == [request_id])

print("georeport read everything")

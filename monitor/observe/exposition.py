"""``/metrics``: the exposition, written family by family as a stream.

prometheus_client's aiohttp handler renders the whole text (7 MB at 1,000 sources) in one call
on the event loop; here the few standard metrics go through its encoder as before, and each
compact family (``observe.compact_metrics``) is rendered and sent in turn, so the text is never
held whole (and, compressed, aiohttp deflates the larger chunks off the loop). The format is
negotiated as prometheus_client does it (OpenMetrics when Prometheus asks for it, else text
0.0.4), and the body is compressed when the scraper accepts it.

Kept because a target needs it: with prometheus_client's handler alone (the plain form), an
OpenMetrics scrape of 1,000 sources' 77,000 samples took 0.66 s of CPU with the loop blocked
(2.8 s in all, in the bench), and the many-sources service went to 4.65 % of a core and 117 MB
at its peak (targets <= 2 % and <= 100 MB; 1.62 % and 90 MB with this; ``python3 dev.py
bench``, 2026-12-07).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.exposition import choose_encoder

from monitor.observe.metrics import Metrics

_EOF = b"# EOF\n"


def metrics_handler(metrics: Metrics) -> Handler:
    generic = make_aiohttp_handler(metrics.registry)

    async def handler(request: web.Request) -> web.StreamResponse:
        if "name[]" in request.query:  # a filtered scrape: small, and rare
            return await generic(request)
        encoder, content_type = choose_encoder(",".join(request.headers.getall(hdrs.ACCEPT, [])))
        openmetrics = content_type.startswith("application/openmetrics-text")
        head = encoder(metrics.standard)  # before the status is sent, as is all that can fail
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: content_type})
        response.enable_compression()
        await response.prepare(request)
        await response.write(head.removesuffix(_EOF) if openmetrics else head)
        for family in metrics.compact:
            await response.write(family.render(openmetrics).encode())
        if openmetrics:
            await response.write(_EOF)
        await response.write_eof()
        return response

    return handler

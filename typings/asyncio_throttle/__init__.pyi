# Type stub for asyncio-throttle 1.0.2, which ships without annotations.
from types import TracebackType

class Throttler:
    rate_limit: int
    period: float
    retry_interval: float
    def __init__(
        self, rate_limit: int, period: float = 1.0, retry_interval: float = 0.01
    ) -> None: ...
    def flush(self) -> None: ...
    async def acquire(self) -> None: ...
    async def __aenter__(self) -> None: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

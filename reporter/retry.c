/* Retries with backoff within an export's deadline (retry.h). */
#include "retry.h"

#include "../preload/clock.h"
#include "exporter.h"

int at_retry(int (*once)(void *ctx, uint64_t deadline_ms), int (*retryable)(int result),
             void *ctx, uint64_t deadline_ms)
{
	int backoff = 100;
	for (;;) {
		int result = once(ctx, deadline_ms);
		if (!retryable(result) || (result < 0 && at_exporter_app_waits()))
			return result;
		if (at_mono_ms() + (uint64_t)backoff >= deadline_ms)
			return result;
		if (at_exporter_pause(backoff) && result < 0)
			return result;
		backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
	}
}

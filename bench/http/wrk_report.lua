-- bench/http/wrk_report.lua - wrk's summary as one JSON line, for
-- bench/http/httpbench.py. Latencies in microseconds.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
        '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
        '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
        '"p50": %d, "p90": %d, "p99": %d, "p99_9": %d}}\n',
        summary.duration, summary.requests, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.min, latency.mean, latency.stdev, latency.max,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9)))
end

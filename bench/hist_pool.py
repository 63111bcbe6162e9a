#!/usr/bin/env python3
"""bench/hist_pool.py DIR ROUNDS: pool the latency histograms that
bench/rateload.c wrote as DIR/h.MODE.ROUND (modes A: quiet, R: reading,
B: changing) and print, in ms and as ratios:
  p99(A) p99(R) p99(B) B/A B/R B/R-of-the-odd-rounds B/R-of-the-even-rounds"""
import sys


def pooled_p99(tmp, mode, rounds):
    hist, total = {}, 0
    for r in rounds:
        with open("%s/h.%s.%d" % (tmp, mode, r)) as f:
            for line in f:
                us, count = line.split()[:2]
                # beyond 1 s rateload keeps a count only: put it at 1 s
                us = 10**6 if us == "over" else int(us)
                hist[us] = hist.get(us, 0) + int(count)
                total += int(count)
    want, seen = 0.99 * total, 0
    for us in sorted(hist):
        seen += hist[us]
        if seen >= want:
            return us / 1000
    raise SystemExit("hist_pool: no requests counted for mode %s" % mode)


def main():
    tmp, n = sys.argv[1], int(sys.argv[2])
    every, odd, even = range(1, n + 1), range(1, n + 1, 2), range(2, n + 1, 2)
    a, r, b = (pooled_p99(tmp, m, every) for m in "ARB")
    half = [pooled_p99(tmp, "B", x) / pooled_p99(tmp, "R", x) for x in (odd, even)]
    print("%.3f %.3f %.3f %.2f %.2f %.2f %.2f" % (a, r, b, b / a, b / r, half[0], half[1]))


if __name__ == "__main__":
    main()

"""A Prometheus stand-in's behaviour, not a stand-in component: GET every /metrics endpoint on
an interval, as a scrape would, so instrumented servers produce their /metrics spans."""
from __future__ import annotations

import threading
from collections import Counter

import requests

SCRAPE_HEADERS = {"User-Agent": "Prometheus/3.0 (llmd-trace-e2e scrape)",
                  "Accept": "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"}


class MetricsScraper:
    def __init__(self, targets: dict[str, str], interval_s: float = 2.0):
        self.targets = dict(targets)  # name -> URL of its /metrics
        self.interval_s = interval_s
        self.scrapes: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-scraper", daemon=True)

    def start(self) -> "MetricsScraper":
        self._thread.start()
        return self

    def scrape_once(self) -> None:
        for name, url in self.targets.items():
            try:
                ok = requests.get(url, headers=SCRAPE_HEADERS, timeout=2).status_code == 200
            except requests.RequestException:
                ok = False
            (self.scrapes if ok else self.failures)[name] += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scrape_once()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

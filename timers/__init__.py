"""timers of PixCrawler."""

"""activities of PixCrawler."""

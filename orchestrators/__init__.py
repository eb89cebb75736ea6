"""orchestrators of PixCrawler."""

"""entities of PixCrawler."""

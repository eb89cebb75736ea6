"""PixCrawler's Function App: a table of contents. Each folder registers one blueprint."""

import azure.durable_functions as df

from http_triggers import blueprint as http_blueprint

app = df.DFApp()
app.register_functions(http_blueprint)

"""PixCrawler's Function App: a table of contents. Each folder registers one blueprint."""

import azure.durable_functions as df

from activities import blueprint as activities
from entities import blueprint as entities
from http_triggers import blueprint as http
from orchestrators import blueprint as orchestrators
from timers import blueprint as timers
from shared.logs import configure_logging
from shared.settings import get_settings

get_settings()  # a missing or wrong setting fails the start, naming the variable
configure_logging()  # request, user and job ids on every line; App Insights when configured

app = df.DFApp()
for blueprint in (http, orchestrators, activities, entities, timers):
    app.register_functions(blueprint)

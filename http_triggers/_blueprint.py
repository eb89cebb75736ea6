"""The blueprint every HTTP trigger module registers on."""

import azure.durable_functions as df

blueprint = df.Blueprint()

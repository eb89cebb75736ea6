"""CORS on Azure: the platform answers preflights for the origins of one parameter, the same
list the devhost takes from Host.CORS locally."""

from __future__ import annotations

import re

from _infra import unwrap


def test_cors_origins_parameter(infra) -> None:
    main = infra.main
    assert main.params["corsAllowedOrigins"]["default"] == ""
    assert main.params["corsSupportCredentials"]["default"] is False
    assert infra.parameters_json["corsAllowedOrigins"]["value"] == "${PIXCRAWLER_CORS_ORIGINS=}"
    # Comma-separated text from azd -> a list without blanks.
    assert re.search(
        r"var corsOrigins = filter\(map\(split\(corsAllowedOrigins, ','\), o => trim\(o\)\), o => !empty\(o\)\)",
        main.text,
    )
    # Browsers refuse credentials for "*": so does the deployment, before anything is created.
    checked = main.var("corsChecked")["operator"]["operands"]
    assert checked["false_value"] == "corsOrigins"
    assert checked["true_value"]["function"]["type"] == "fail"
    assert re.search(r"var corsChecked = \(corsSupportCredentials && contains\(corsOrigins, '\*'\)\)", main.text)
    passed = infra.module_params("modules/functionapp.bicep")
    assert passed["corsAllowedOrigins"] == "corsChecked"
    assert passed["corsSupportCredentials"] == "corsSupportCredentials"


def test_site_cors(infra) -> None:
    site = unwrap(infra.function_app.resources["site"])[0]
    assert site["properties"]["siteConfig"]["cors"] == {
        "allowedOrigins": "corsAllowedOrigins",
        "supportCredentials": "corsSupportCredentials",
    }
    assert infra.function_app.params["corsAllowedOrigins"]["default"] == []


def test_devhost_documents_the_same_setting(infra) -> None:
    readme = (infra.root / "devhost" / "README.md").read_text()
    assert "Host.CORS" in readme and "DEVHOST_CORS" in readme
    deploy = (infra.root / "docs" / "deploy.md").read_text()
    assert "PIXCRAWLER_CORS_ORIGINS" in deploy and "Host.CORS" in deploy

"""Local stand-ins of the search services, answering in each service's real format.

One aiohttp app on 127.0.0.1 serves the paths of all of them (Commons ``/w/api.php``,
Openverse ``/v1/images/``, Flickr ``/services/rest/``, Google ``/customsearch/v1``, Bing
``/images/async``, DuckDuckGo ``/`` + ``/i.js``, Baidu ``/search/acjson``) over the same
ordered result list, with each service's own paging rules (offsets, page numbers, 1-based
starts, fixed page sizes, "next" links). The shapes follow the services' documentation and
the answers observed by open-source clients. (``scripts/demo_source.py`` is the fuller
Commons stand-in, with images.)

Tests can make a path answer 429/403 a number of times (or always), make it answer a
malformed body, and read every request it got.

Example::

    services, runner = await start_services(count=130)
    services.throttle("/v1/images/", times=2, status=429, retry_after="0")
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from aiohttp import web

from shared.settings import Settings

KEYWORD = "tabby cat"
FLICKR_KEY = "flickr-test-key"
GOOGLE_KEY = "google-test-key"
GOOGLE_CX = "cx-test"
VQD = "4-311470935316853426127046412298137402683"

#: Results every fake service holds for the test keyword: more than one page everywhere
#: (Google stops at 100 of them, as the real API does).
RESULT_COUNT = 130


def local_settings(base_url: str, **overrides: object) -> Settings:
    """Settings with every source at ``base_url``, keys set, and quick backoff."""
    values: dict[str, object] = {
        "cosmos_endpoint": "https://127.0.0.1:8081/",
        "blob_connection_string": "UseDevelopmentStorage=true",
        "flickr_api_key": FLICKR_KEY,
        "google_api_key": GOOGLE_KEY,
        "google_cx": GOOGLE_CX,
        "source_max_tries": 3,
        "source_backoff_base": 0.01,
        "source_backoff_cap": 5.0,
        "source_timeout": 5.0,
    }
    for source in ("wikimedia", "openverse", "flickr", "google", "bing", "duckduckgo", "baidu"):
        values[f"{source}_base_url"] = base_url
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


_BAIDU_CIPHER = str.maketrans(
    "abcdefghijklmnopqrstuvw1234567890", "wkv1ju2it3hs4g5rq6fp7eo8dn9cmb0la"
)


@dataclass(frozen=True)
class Result:
    """One image every service knows about."""

    index: int

    @property
    def url(self) -> str:
        return f"https://img{self.index % 3}.example.org/photos/{self.index:04d}.jpg"

    @property
    def page_url(self) -> str:
        return f"https://photos.example.org/view/{self.index}"

    @property
    def title(self) -> str:
        return f"Tabby cat {self.index}"

    @property
    def width(self) -> int:
        return 640 + self.index

    @property
    def height(self) -> int:
        return 480


def baidu_obfuscate(url: str) -> str:
    """Baidu's URL obfuscation (the inverse of ``shared.crawl.sources.baidu.decode_url``)."""
    text = url.translate(_BAIDU_CIPHER)
    return text.replace(":", "_z2C$q").replace(".", "_z&e3B").replace("/", "AzdH3F")


@dataclass
class Throttle:
    status: int
    times: int | None
    retry_after: str | None


@dataclass
class Services:
    """State of the fake services: the results, the throttles and the request log."""

    results: list[Result]
    base_url: str = ""
    throttles: dict[str, Throttle] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)

    def throttle(
        self, path: str, times: int | None, status: int = 429, retry_after: str | None = "0"
    ) -> None:
        """Answer ``status`` on ``path`` the next ``times`` requests (None: always)."""
        self.throttles[path] = Throttle(status, times, retry_after)

    def calls(self, path: str) -> list[dict[str, str]]:
        return [query for p, query in self.requests if p == path]

    def matching(self, query: str) -> list[Result]:
        return self.results if query == KEYWORD else []


def _json(body: object) -> web.Response:
    return web.json_response(body)


def _int(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer")


def openverse(services: Services, q: dict[str, str]) -> web.Response:
    size, page = _int(q, "page_size", 20), _int(q, "page", 1)
    if size > 20:
        return web.json_response(
            {"detail": {"page_size": ["Ensure this value is less than or equal to 20."]}},
            status=401,
        )
    matched = services.matching(q.get("q", ""))
    pages = -(-len(matched) // size)
    if page > max(pages, 1):
        return web.json_response({"detail": "Invalid page."}, status=400)
    chunk = matched[(page - 1) * size : page * size]
    return _json(
        {
            "result_count": len(matched),
            "page_count": pages,
            "page_size": size,
            "page": page,
            "results": [
                {
                    "id": f"0c8e{r.index:04d}-aaaa-4bbb-8ccc-000000000000",
                    "title": r.title,
                    "indexed_on": "2024-05-01T00:00:00Z",
                    "foreign_landing_url": r.page_url,
                    "url": r.url,
                    "creator": f"photographer{r.index}",
                    "creator_url": None,
                    "license": "by-sa" if r.index % 2 else "cc0",
                    "license_version": "4.0" if r.index % 2 else "1.0",
                    "license_url": "https://creativecommons.org/licenses/by-sa/4.0/",
                    "provider": "flickr",
                    "source": "flickr",
                    "category": None,
                    "filesize": None,
                    "filetype": "jpg",
                    "tags": [{"name": "cat", "accuracy": None}],
                    "attribution": (
                        f'"{r.title}" by photographer{r.index} is licensed under CC BY-SA 4.0.'
                    ),
                    "fields_matched": ["title"],
                    "mature": False,
                    "height": r.height,
                    "width": r.width,
                    "thumbnail": f"https://api.openverse.org/v1/images/{r.index}/thumb/",
                    "detail_url": f"https://api.openverse.org/v1/images/{r.index}/",
                    "related_url": f"https://api.openverse.org/v1/images/{r.index}/related/",
                    "unstable__sensitivity": [],
                }
                for r in chunk
            ],
        }
    )


def flickr(services: Services, q: dict[str, str]) -> web.Response:
    if q.get("api_key") != FLICKR_KEY:
        return _json(
            {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}
        )
    if q.get("method") != "flickr.photos.search" or q.get("nojsoncallback") != "1":
        return _json({"stat": "fail", "code": 112, "message": "Method not found"})
    per_page, page = min(_int(q, "per_page", 100), 500), _int(q, "page", 1)
    matched = services.matching(q.get("text", ""))
    pages = -(-len(matched) // per_page)
    chunk = matched[(page - 1) * per_page : page * per_page]
    photos = []
    for r in chunk:
        photo: dict[str, object] = {
            "id": str(52_000_000 + r.index),
            "owner": f"1234{r.index}@N05",
            "secret": "a1b2c3",
            "server": "65535",
            "farm": 66,
            "title": r.title,
            "ispublic": 1,
            "isfriend": 0,
            "isfamily": 0,
            "license": str(r.index % 11),
            "ownername": f"owner {r.index}",
        }
        # Owners may hide originals: then only the large size is there.
        size = "l" if r.index % 4 == 0 else "o"
        photo |= {f"url_{size}": r.url, f"width_{size}": str(r.width), f"height_{size}": r.height}
        photos.append(photo)
    return _json(
        {
            "photos": {
                "page": page,
                "pages": pages,
                "perpage": per_page,
                "total": len(matched),
                "photo": photos,
            },
            "stat": "ok",
        }
    )


def _google_error(message: str) -> web.Response:
    error = {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
    return web.json_response({"error": error}, status=400)


def google(services: Services, q: dict[str, str]) -> web.Response:
    if q.get("key") != GOOGLE_KEY or q.get("cx") != GOOGLE_CX:
        return _google_error("API key not valid. Please pass a valid API key.")
    start, num = _int(q, "start", 1), _int(q, "num", 10)
    if num > 10 or start < 1 or start + num - 1 > 100 or q.get("searchType") != "image":
        return _google_error("Request contains an invalid argument.")
    matched = services.matching(q.get("q", ""))
    chunk = matched[start - 1 : start - 1 + num]
    queries: dict[str, object] = {
        "request": [
            {
                "title": "Google Custom Search",
                "count": num,
                "startIndex": start,
                "searchType": "image",
            }
        ]
    }
    if start - 1 + num < min(len(matched), 100):
        queries["nextPage"] = [
            {
                "title": "Google Custom Search",
                "count": num,
                "startIndex": start + num,
                "searchType": "image",
            }
        ]
    body: dict[str, object] = {
        "kind": "customsearch#search",
        "queries": queries,
        "searchInformation": {"totalResults": str(len(matched))},
    }
    if chunk:
        body["items"] = [
            {
                "kind": "customsearch#result",
                "title": r.title,
                "htmlTitle": f"<b>{r.title}</b>",
                "link": r.url,
                "displayLink": "photos.example.org",
                "snippet": r.title,
                "mime": "image/jpeg",
                "fileFormat": "image/jpeg",
                "image": {
                    "contextLink": r.page_url,
                    "height": r.height,
                    "width": r.width,
                    "byteSize": 51234,
                    "thumbnailLink": "https://encrypted-tbn0.example/x",
                    "thumbnailHeight": 120,
                    "thumbnailWidth": 160,
                },
            }
            for r in chunk
        ]
    return _json(body)


def wikimedia(services: Services, q: dict[str, str]) -> web.Response:
    if q.get("action") != "query" or q.get("generator") != "search" or q.get("gsrnamespace") != "6":
        return _json({"error": {"code": "badvalue", "info": "Unrecognized value for parameter"}})
    offset, limit = _int(q, "gsroffset", 0), min(_int(q, "gsrlimit", 10), 50)
    matched = services.matching(q.get("gsrsearch", ""))
    chunk = matched[offset : offset + limit]
    body: dict[str, object] = {"batchcomplete": True}
    if offset + limit < len(matched):
        body["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
    if chunk:
        body["query"] = {
            "pages": [
                {
                    "pageid": 90_000 - r.index,
                    "ns": 6,
                    "title": f"File:{r.title}.jpg",
                    "index": offset + i + 1,
                    "imagerepository": "local",
                    "imageinfo": [
                        {
                            "size": 51234,
                            "width": r.width,
                            "height": r.height,
                            "url": r.url,
                            "descriptionurl": r.page_url,
                            "mime": "image/jpeg",
                            "extmetadata": {
                                "LicenseShortName": {"value": "CC BY 4.0"},
                                "Artist": {"value": f"<a href='//x'>Artist {r.index}</a>"},
                            },
                        }
                    ],
                }
                for i, r in sorted(enumerate(chunk), key=lambda p: p[1].index % 7)
            ]
        }
    return _json(body)


BING_PAGE = 35


def bing(services: Services, q: dict[str, str]) -> web.Response:
    first = max(_int(q, "first", 1), 1)
    chunk = services.matching(q.get("q", ""))[first - 1 : first - 1 + BING_PAGE]
    items = []
    for r in chunk:
        meta = {
            "sid": "",
            "cturl": "",
            "cid": f"c{r.index}",
            "purl": r.page_url,
            "murl": r.url,
            "turl": f"https://tse1.mm.bing.net/th?id=OIP.{r.index}",
            "md5": "0" * 32,
            "shkey": "",
            "t": f"{r.title} &amp; friends" if r.index % 5 == 0 else r.title,
            "mid": "",
            "desc": "",
        }
        items.append(
            f'<li data-idx="{r.index + 1}"><div class="iuscp isv"><div class="imgpt">'
            f'<a class="iusc" style="height:180px;width:240px" m="{html.escape(json.dumps(meta))}" '
            f'mad="{{}}" href="/images/search?view=detailV2&amp;id={r.index}">'
            f'<div class="img_cont hoff"><img class="mimg" alt="{html.escape(r.title)}" '
            f'src="https://tse1.mm.bing.net/th?id=OIP.{r.index}"/></div></a>'
            f'<div class="img_info hon"><span class="nowrap">'
            f"{r.width} \u00d7 {r.height} \u00b7 jpeg</span>"
            f'<div class="lnkw"><a target="_blank" href="{r.page_url}">photos.example.org'
            f'</a></div></div></div><div class="infopt"></div></div></li>'
        )
    body = (
        '<ul class="dgControl_list">' + "".join(items) + "</ul>"
        if items
        else ('<div id="mmComponent_images_1"><div class="dg_b">No more results</div></div>')
    )
    return web.Response(text=body, content_type="text/html")


DDG_PAGE = 100


def duckduckgo_page(services: Services, q: dict[str, str]) -> web.Response:
    return web.Response(
        text=f"<!DOCTYPE html><html><head><title>{html.escape(q.get('q', ''))} at DuckDuckGo"
        f'</title></head><body><script>DDG.ready(function(){{DDG.duckbar.load("images", '
        f'{{}});}});DDG.deep.initialize("/d.js?q=cat&l=us-en&s=0&dl=en&ct=US&vqd={VQD}'
        f'&p_ent=&ex=-1");</script><script>vqd="{VQD}";</script></body></html>',
        content_type="text/html",
    )


def duckduckgo_images(services: Services, q: dict[str, str]) -> web.Response:
    if q.get("vqd") != VQD:
        return web.Response(status=403, text="Forbidden")
    start = _int(q, "s", 0)
    matched = services.matching(q.get("q", ""))
    chunk = matched[start : start + DDG_PAGE]
    body: dict[str, object] = {
        "ads": None,
        "query": q.get("q", ""),
        "queryEncoded": q.get("q", "").replace(" ", "%20"),
        "response_type": "places",
        "results": [
            {
                "height": r.height,
                "image": r.url,
                "image_token": f"tok{r.index}",
                "source": "Bing",
                "thumbnail": f"https://tse2.mm.bing.net/th?id=OIP.{r.index}",
                "thumbnail_token": f"t{r.index}",
                "title": r.title,
                "url": r.page_url,
                "width": r.width,
            }
            for r in chunk
        ],
        "vqd": {q.get("q", ""): VQD},
    }
    if start + DDG_PAGE < len(matched):
        body["next"] = (
            f"i.js?q=tabby%20cat&o=json&p=1&s={start + DDG_PAGE}&u=bing&f=,,,,,&l=us-en&vqd={VQD}"
        )
    return _json(body)


def baidu(services: Services, q: dict[str, str]) -> web.Response:
    pn, rn = _int(q, "pn", 0), min(_int(q, "rn", 30), 60)
    matched = services.matching(q.get("word", ""))
    chunk = matched[pn : pn + rn]
    data = []
    for r in chunk:
        # Some answers obfuscate the original, some give it plain; titles carry <strong>
        # highlighting and an escaped single quote (not valid JSON).
        obj = baidu_obfuscate(r.url) if r.index % 2 else r.url
        data.append(
            "{" + f'"adType":"0","thumbURL":"https://img1.baidu.com/it/u={r.index},1&fm=253",'
            f'"middleURL":"https://img1.baidu.com/it/u={r.index},2&fm=253","hasLarge":0,'
            f'"objURL":"{obj}","fromURL":"{baidu_obfuscate(r.page_url)}",'
            f'"fromURLHost":"photos.example.org","width":{r.width},"height":{r.height},'
            f'"type":"jpg","fromPageTitle":"<strong>{r.title}</strong> it\\\'s here",'
            f'"fromPageTitleEnc":"{r.title} it\\\'s here","replaceUrl":[{{"ObjURL":"{r.url}",'
            f'"ObjUrl":"{r.url}","FromURL":"{r.page_url}","FromUrl":"{r.page_url}"}}],'
            f'"bdSrcType":"0","di":"{r.index}","pi":"0","is":"0,0"' + "}"
        )
    data.append("{}")
    body = (
        '{"queryEnc":"tabby%20cat","queryExt":"tabby cat","listNum":'
        + str(len(matched))
        + ',"displayNum":'
        + str(len(matched) * 40)
        + ',"gsm":"1e","bdFmtDispNum":"about",'
        '"bdSearchTime":"","isNeedAsyncRequest":0,"bdIsClustered":"1","data":['
        + ",".join(data)
        + "]}"
    )
    return web.Response(text=body, content_type="text/html")


ROUTES = {
    "/w/api.php": wikimedia,
    "/v1/images/": openverse,
    "/services/rest/": flickr,
    "/customsearch/v1": google,
    "/images/async": bing,
    "/": duckduckgo_page,
    "/i.js": duckduckgo_images,
    "/search/acjson": baidu,
}


def make_app(services: Services) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        query = dict(request.query)
        services.requests.append((request.path, query))
        services.user_agents.append(request.headers.get("User-Agent", ""))
        throttle = services.throttles.get(request.path)
        if throttle is not None and throttle.times != 0:
            if throttle.times is not None:
                throttle.times -= 1
            headers = {"Retry-After": throttle.retry_after} if throttle.retry_after else {}
            return web.Response(status=throttle.status, text="slow down", headers=headers)
        if request.path in services.malformed:
            return web.Response(text=services.malformed[request.path], content_type="text/html")
        return ROUTES[request.path](services, query)

    app = web.Application()
    for path in ROUTES:
        app.router.add_get(path, handle)
    return app


async def start_services(count: int) -> tuple[Services, web.AppRunner]:
    """Start the fake services on a free port of 127.0.0.1 with ``count`` results."""
    services = Services(results=[Result(i) for i in range(count)])
    runner = web.AppRunner(make_app(services), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    services.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return services, runner

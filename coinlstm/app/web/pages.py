"""The HTML pages: market, pair, runs, the API's docs. Each reads through coinlstm.app.web
.views, so a page never shows a figure the API does not give."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from coinlstm import db
from coinlstm.app.web import views
from coinlstm.app.web.deps import MARKET, Days, Exchange, Interval, Limit, Market, Pair, SiteDep
from coinlstm.core.config import DEFAULT_MARKET

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(site: SiteDep) -> Response:
    market = site.first_market(site.default_exchange)
    query = urlencode({"exchange": site.default_exchange})
    return RedirectResponse(f"/market/{market}?{query}", status_code=303)


@router.get("/market")
def market_form(site: SiteDep, interval: Interval, exchange: Exchange,
                market: str = Query(DEFAULT_MARKET, pattern=MARKET)) -> Response:
    known = site.read(db.markets, exchange)
    if known and market not in known:  # another exchange's market: its first one
        market = site.first_market(exchange)
    query = urlencode({"interval": interval, "exchange": exchange})
    return RedirectResponse(f"/market/{market}?{query}", status_code=303)


@router.get("/market/{market}")
def market_page(site: SiteDep, market: Market, interval: Interval,
                exchange: Exchange) -> Response:
    with site.engine.connect() as conn:
        data = views.ranking(conn, market, interval, exchange)
        markets = db.markets(conn, exchange)
    return site.render("market.html", data=data, markets=markets, page="market",
                       market=market, exchange=exchange)


@router.get("/pair/{symbol}")
def pair_page(site: SiteDep, pair: Pair, interval: Interval, days: Days = 7) -> Response:
    symbol, exchange = pair
    with site.engine.connect() as conn:
        coin = views.pair(conn, symbol, exchange)
        chart = views.history(conn, coin, interval, days)
        record = views.track_record(conn, coin, interval, chart["model"], chart["target"])
        model = views.model_info(conn, coin, interval)
        costs = views.costs(conn, coin, interval, chart["model"], chart["target"])
    return site.render("pair.html", chart=chart, record=record, model=model, costs=costs,
                       market=coin.quoteAsset, exchange=exchange, page="pair")


@router.get("/runs")
def runs_page(site: SiteDep, limit: Limit = 50) -> Response:
    return site.render("runs.html", data=site.read(views.runs, limit), page="runs")


@router.get("/api/docs")
def api_docs(site: SiteDep, request: Request) -> Response:
    return site.render("apidocs.html", spec=request.app.openapi(), page="api")

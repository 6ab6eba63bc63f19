"""The JSON API: everything the pages show, for other dashboards to integrate through.
Every error is one line of JSON (coinlstm.app.web.errors)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from coinlstm import db
from coinlstm.app.web import views
from coinlstm.app.web.deps import (
    MARKET,
    SERIES_NAME,
    Days,
    Exchange,
    Interval,
    Limit,
    Market,
    Pair,
    SiteDep,
)
from coinlstm.app.web.site import Site
from coinlstm.core.config import DEFAULT_MARKET
from coinlstm.core.exchanges import job_name

router = APIRouter(prefix="/api")


def _for_pair(site: Site, pair: tuple[str, str], function, *args):
    """``function(conn, coin, *args)`` for the pair (symbol, exchange) asked."""
    with site.engine.connect() as conn:
        return function(conn, views.pair(conn, *pair), *args)


@router.get("/markets", summary="The quote markets that have pairs on an exchange")
def api_markets(site: SiteDep, exchange: Exchange) -> dict:
    return {"exchange": exchange, "markets": site.read(db.markets, exchange)}


@router.get("/markets/{market}/ranking",
            summary="Every pair of a market: close, forecast, change %, verdict, forward "
                    "skill, the newest band's width and the bands' 30-day coverage, "
                    "staleness; edge first")
def api_ranking(site: SiteDep, market: Market, interval: Interval,
                exchange: Exchange) -> list[dict]:
    return site.read(views.ranking, market, interval, exchange)["pairs"]


@router.get("/pairs/{symbol}/track-record",
            summary="A pair's forward track record per window (24h, 7d, 30d, all), with "
                    "its prediction bands' coverage beside their nominal level")
def api_track_record(site: SiteDep, pair: Pair, interval: Interval,
                     model: str | None = Query(None, pattern=SERIES_NAME),
                     target: str | None = Query(None, pattern=SERIES_NAME)) -> list[dict]:
    record = _for_pair(site, pair, views.track_record, interval, model, target)
    return [{**window, "model": record["model"], "target": record["target"],
             "interval": interval} for window in record["windows"]]


@router.get("/pairs/{symbol}/costs",
            summary="The pair's effective spread (Corwin-Schultz's high-low estimator, "
                    "last 30 days of candles; Roll's beside it), what its forecasts earned "
                    "after it in the hours whose predicted move exceeded it, and its verdict "
                    "(held against the spread)")
def api_costs(site: SiteDep, pair: Pair, interval: Interval,
              model: str | None = Query(None, pattern=SERIES_NAME),
              target: str | None = Query(None, pattern=SERIES_NAME)) -> dict:
    return _for_pair(site, pair, views.costs, interval, model, target)


@router.get("/movers",
            summary="A market's pairs by the forecast size of their next move (the 80 % "
                    "band's half-width, % of the last close) beside a naive size, and the "
                    "forward score of that ranking against the naive one (24h, 7d, 30d)")
def api_movers(site: SiteDep, interval: Interval, exchange: Exchange,
               market: str = Query(DEFAULT_MARKET, pattern=MARKET)) -> dict:
    return site.read(views.movers, market, interval, exchange)


@router.get("/pairs/{symbol}/history",
            summary="Closes, past forecasts and their bands, naive forecasts, the next "
                    "forecast and its bands, and the cumulative squared-error difference "
                    "over the last N days")
def api_history(site: SiteDep, pair: Pair, interval: Interval, days: Days = 7) -> dict:
    return _for_pair(site, pair, views.history, interval, days)


@router.get("/pairs/{symbol}/model",
            summary="The pair's newest training run: settings and test-slice metrics")
def api_model(site: SiteDep, pair: Pair, interval: Interval) -> dict:
    return _for_pair(site, pair, views.model_info, interval)


@router.get("/runs", summary="The market job's runs, newest first")
def api_runs(site: SiteDep, exchange: Exchange, limit: Limit = 50,
             market: str | None = Query(None, pattern=MARKET)) -> list[dict]:
    # A market's runs are its job's (one per exchange and market: job_name).
    job = None if market is None else job_name(exchange, market)
    return site.read(views.runs, limit, job)["runs"]

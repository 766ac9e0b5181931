from httpx import AsyncClient


async def test_home_is_vietnamese(client: AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert '<html lang="vi">' in r.text


async def test_readyz_reports_head(client: AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["migrations"] == "0001"

"""How many wrong passwords are tried before the platform stops listening (ASVS V2.2.1).

The policy (the settings' defaults; every count is of *failed* attempts, reserved before the password
is verified, see eneo.core.ratelimit):

* one account from one address: 10 per 15 minutes (`LOGIN_MAX_ATTEMPTS_PER_ACCOUNT`,
  `LOGIN_WINDOW_SECONDS`). This is what slows a guesser, and it does not touch the owner elsewhere;
* one address over all accounts: 50 per 15 minutes (`LOGIN_MAX_ATTEMPTS_PER_IP`): one address trying
  many accounts (password spraying);
* one account from all addresses: 100 per hour (`LOGIN_MAX_ATTEMPTS_PER_ACCOUNT_ALL_ADDRESSES`,
  `LOGIN_ACCOUNT_WINDOW_SECONDS`), against guessing spread over many addresses. Past it, only the
  addresses the account logged in from in the last 30 days (`LOGIN_KNOWN_ADDRESS_DAYS`) may still try:
  a stranger cannot lock the owner out of the places they work from.

A successful login clears its account-and-address count and gives its slots back to the others (a
town hall's staff behind one address never use up its count). The account is named by its e-mail,
whichever organisation is asked for, and Redis holds keyed hashes, never an e-mail or an address.
A wrong `current_password` on a password change counts per user: 5 per 15 minutes
(`PASSWORD_CHANGE_MAX_ATTEMPTS`).
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis

from eneo.core.errors import TooManyRequests
from eneo.core.ratelimit import Counter, give_back, reset, take
from eneo.core.security import token_hash
from eneo.core.settings import Settings


def _h(settings: Settings, value: str) -> str:
    return token_hash(value, settings.pepper)[:32]


@dataclass
class Attempt:
    """Slots reserved for one try: `succeeded()` gives them back; a failure keeps them."""

    redis: Redis
    counters: list[Counter]
    cleared: list[Counter]  # reset on success rather than given back
    known_key: str | None = None
    address: str = ""
    known_seconds: int = 0

    async def released(self) -> None:
        """Neither a success nor a failure (the password was right, the second factor's code is still to
        come): the slots go back and nothing is reset."""
        await give_back(self.redis, self.counters)

    async def succeeded(self) -> None:
        await give_back(self.redis, [c for c in self.counters if c not in self.cleared])
        for counter in self.cleared:
            await reset(self.redis, counter.key)
        if self.known_key:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(self.known_key, self.address)
                pipe.expire(self.known_key, self.known_seconds)
                await pipe.execute()


def _refuse(wait: int, what: str) -> TooManyRequests:
    return TooManyRequests(f"Too many failed {what}; try again in {wait} seconds", retry_after=wait)


async def start_login(redis: Redis, settings: Settings, *, email: str, client_ip: str) -> Attempt:
    """Reserve a login attempt or raise 429 (Retry-After) without verifying anything."""
    account, address = _h(settings, email), _h(settings, client_ip)
    pair = Counter(f"login:pair:{account}:{address}", settings.login_max_attempts_per_account,
                   settings.login_window_seconds)
    source = Counter(f"login:ip:{address}", settings.login_max_attempts_per_ip, settings.login_window_seconds)
    everywhere = Counter(f"login:acct:{account}", settings.login_max_attempts_per_account_all_addresses,
                         settings.login_account_window_seconds)
    counters = [pair, source, everywhere]
    taken = await take(redis, counters)
    known_key = f"login:known:{account}"
    wait = taken.over(pair) or taken.over(source)
    if wait is None and (late := taken.over(everywhere)) is not None \
            and not await redis.sismember(known_key, address):
        wait = late
    if wait is not None:
        await give_back(redis, counters)  # refused without trying: not a failure
        raise _refuse(wait, "logins")
    return Attempt(redis, counters, [pair], known_key, address,
                   int(timedelta(days=settings.login_known_address_days).total_seconds()))


async def start_password_check(redis: Redis, settings: Settings, user_id: uuid.UUID) -> Attempt:
    """Reserve a check of a signed-in user's current password, or raise 429."""
    counter = Counter(f"pwchange:{user_id}", settings.password_change_max_attempts, settings.login_window_seconds)
    taken = await take(redis, [counter])
    if (wait := taken.over(counter)) is not None:
        await give_back(redis, [counter])
        raise _refuse(wait, "password checks")
    return Attempt(redis, [counter], [counter])


async def forget_account(redis: Redis, settings: Settings, email: str) -> None:
    """Drop the account's counters and known addresses (an erased user: nothing keyed by them stays)."""
    account = _h(settings, email)
    keys = [f"login:acct:{account}", f"login:known:{account}"]
    keys += [key async for key in redis.scan_iter(match=f"login:pair:{account}:*", count=1000)]
    await redis.delete(*keys)

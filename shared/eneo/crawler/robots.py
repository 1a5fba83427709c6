"""robots.txt: which paths the crawler may fetch, and the Crawl-delay it asks for (Python's own parser)."""

from dataclasses import dataclass
from urllib.robotparser import RobotFileParser


@dataclass
class Robots:
    parser: RobotFileParser | None  # None: no robots.txt (404), everything is allowed
    user_agent: str

    @classmethod
    def parse(cls, text: str, user_agent: str) -> "Robots":
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        robots = cls(parser, user_agent)
        robots._delay = _crawl_delay(text, robots._agent())
        return robots

    @classmethod
    def allow_all(cls, user_agent: str) -> "Robots":
        return cls(None, user_agent)

    @classmethod
    def deny_all(cls, user_agent: str) -> "Robots":
        """A robots.txt that answered 401/403: Google's rule, the whole site is off limits."""
        return cls.parse("User-agent: *\nDisallow: /\n", user_agent)

    def allowed(self, url: str) -> bool:
        return self.parser is None or self.parser.can_fetch(self._agent(), url)

    def crawl_delay(self) -> float | None:
        """The Crawl-delay of the group for our agent (else `*`). Read here rather than by urllib's parser,
        which takes whole seconds only and ignores `Crawl-delay: 0.5`."""
        return self._delay

    _delay: float | None = None

    def sitemaps(self) -> list[str]:
        return list(self.parser.site_maps() or []) if self.parser is not None else []

    def _agent(self) -> str:
        return self.user_agent.split("/", 1)[0]


def _crawl_delay(text: str, agent: str) -> float | None:
    """The Crawl-delay for `agent`'s own group, else for `*`'s."""
    found: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
        elif key:
            in_rules = True
            if key == "crawl-delay":
                try:
                    delay = float(value)
                except ValueError:
                    continue
                for name in agents:
                    found.setdefault(name, delay)
    return found.get(agent.lower(), found.get("*"))

"""Advice on a fine-tuning file that the service would accept, after OpenAI's legacy
`fine_tunes.prepare_data`: repeated or contradictory examples, too few of them, all-caps text,
and boilerplate shared by every record. These are warnings, not violations: validate's exit
status stays the service's rules alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from chalicelib.dataprep.dedupe import normalise

MIN_EXAMPLES = 100  # OpenAI's advice: fewer rarely fine-tune well
_SHOWN = 40  # characters of a completion quoted in a conflict warning
_TAIL = 128  # characters of each text kept to find a shared ending
_MIN_SHARED = 3  # non-space characters a shared prefix or suffix needs to be worth a warning

Advice = tuple[int | None, str]  # (line or None for the whole file, message)


def _letters(text: str) -> tuple[int, int]:
    """(uppercase, lowercase) letters; ASCII text is counted by bytes.translate, far faster."""
    if text.isascii():
        raw = text.encode()
        upper = len(raw) - len(raw.translate(None, _ASCII_UPPER))
        lower = len(raw) - len(raw.translate(None, _ASCII_LOWER))
        return upper, lower
    return sum(map(str.isupper, text)), sum(map(str.islower, text))


_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_LOWER = bytes(range(ord("a"), ord("z") + 1))


def _to_word_end(shared: str) -> str:
    """A shared start cut after its last non-alphanumeric character: 'Review: go' -> 'Review: '.

    So the prompts 'I was' and 'I want' share 'I ', not 'I wa'.
    """
    end = max((i for i, c in enumerate(shared) if not c.isalnum()), default=-1)
    return shared[: end + 1]


def _from_word_start(shared: str) -> str:
    """A shared ending cut before its first non-alphanumeric character: ' positive' and
    ' negative' share 'tive', which is no ending at all; ' END' stays."""
    start = next((i for i, c in enumerate(shared) if not c.isalnum()), len(shared))
    return shared[start:]


@dataclass
class _Field:
    """What every prompt (or every completion) has in common, accumulated record by record."""

    name: str
    prefix: str | None = None
    suffix: str | None = None
    shortest: int = 1 << 62
    upper: int = 0
    lower: int = 0

    def add(self, text: str, stop: str = "") -> None:
        """One text; a stop sequence at its end (' END') is not counted as uppercase text."""
        if self.prefix is None or self.suffix is None:
            self.prefix, self.suffix = text, text[-_TAIL:]
        else:
            # startswith/endswith first: once the shared part is found, most texts keep it
            if self.prefix and not text.startswith(self.prefix):
                self.prefix = os.path.commonprefix([self.prefix, text])
            if self.suffix and not text.endswith(self.suffix):
                shared = os.path.commonprefix([self.suffix[::-1], text[-_TAIL:][::-1]])
                self.suffix = shared[::-1]
        self.shortest = min(self.shortest, len(text))
        upper, lower = _letters(text[: len(text) - len(stop)])
        self.upper += upper
        self.lower += lower

    def shared_start(self, skip: str = "") -> str:
        """The start every text shares beyond `skip`, '' when it is a whole text or trivial."""
        prefix = self.prefix or ""
        if len(prefix) >= self.shortest:  # some record is nothing but the shared start
            return ""
        shared = _to_word_end(prefix.removeprefix(skip))
        return shared if len(shared.strip()) >= _MIN_SHARED else ""

    def shared_end(self, skip: str = "") -> str:
        """The ending every text shares before `skip` (a separator or stop sequence)."""
        suffix = self.suffix or ""
        if len(suffix) >= self.shortest or not suffix.endswith(skip):
            return ""
        shared = _from_word_start(suffix[: len(suffix) - len(skip)])
        return shared if len(shared.strip()) >= _MIN_SHARED else ""

    def caps(self) -> str | None:
        """OpenAI's rule: more than a third of the letters uppercase."""
        if self.upper * 2 <= self.lower:
            return None
        return (
            f"more than a third of the letters in the {self.name} are uppercase "
            f"({self.upper:,} of {self.upper + self.lower:,}); models do worse on all-caps "
            "text: lower-case it unless case carries meaning"
        )


@dataclass
class QualityCheck:
    """One pass over the records; keeps two hashes and a clipped completion per distinct prompt.

    Prompts are compared normalised as prepare compares texts (case, whitespace). A 64-bit hash
    stands for each prompt: a collision, about n**2 / 2**65, would at worst add one warning.
    """

    records: int = 0
    advice: list[Advice] = field(default_factory=list)
    prompts: _Field = field(default_factory=lambda: _Field("prompts"))
    completions: _Field = field(default_factory=lambda: _Field("completions"))
    _seen: dict[int, tuple[int, int, str]] = field(default_factory=dict)

    def add(
        self,
        line: int,
        prompt: str,
        completion: str,
        context: str = "",
        stop: str = "",
        separator: str = "",
    ) -> None:
        """One well-formed record. `context` (a system prompt) also tells records apart; `stop`
        is the completion's stop sequence and `separator` the prompt's, if they end with one."""
        self.records += 1
        self.prompts.add(prompt)
        self.completions.add(completion, stop)
        # without the separator most prompts take normalise()'s fast path (no newline left)
        key = hash((context, normalise(prompt[: len(prompt) - len(separator)])))
        answer = completion.strip()
        first = self._seen.get(key)
        if first is None:
            self._seen[key] = (line, hash(answer), answer[:_SHOWN])
        elif first[1] == hash(answer):
            self.advice.append((line, f"duplicate of line {first[0]} (same prompt and completion)"))
        else:
            self.advice.append(
                (
                    line,
                    f"same prompt as line {first[0]} but another completion "
                    f"({answer[:_SHOWN]!r} here, {first[2]!r} there): conflicting labels",
                )
            )

    def file_advice(self, training: bool, separator: str = "", stop: str = "") -> list[Advice]:
        """Warnings about the whole file, given the separator and stop sequence it uses."""
        found: list[str] = []
        if training and 0 < self.records < MIN_EXAMPLES:
            found.append(
                f"{self.records} records: fine-tuning needs at least {MIN_EXAMPLES} examples "
                "to learn a task well, and gets better with more"
            )
        found += [m for m in (self.prompts.caps(), self.completions.caps()) if m]
        if self.records < 2:
            return [(None, message) for message in found]
        if shared := self.prompts.shared_start():
            found.append(
                f"every prompt starts with {shared!r}: an instruction repeated in every record "
                "costs tokens and teaches nothing (the model learns the task from the examples; "
                "on Bedrock it belongs in the system prompt)"
            )
        if shared := self.prompts.shared_end(separator):
            found.append(
                f"every prompt ends with {shared!r} before the separator: the separator alone "
                "marks the end of the prompt"
                if separator
                else f"every prompt ends with {shared!r}: words repeated in every record cost "
                "tokens and teach nothing"
            )
        # completions start with the one space the format needs; anything more is boilerplate
        first = (self.completions.prefix or "")[:1]
        if shared := self.completions.shared_start(first if first.isspace() else ""):
            found.append(
                f"every completion starts with {shared!r}: a completion should hold only the answer"
            )
        if shared := self.completions.shared_end(stop):
            found.append(
                f"every completion ends with {shared!r}: a completion should hold only the "
                "answer (and the stop sequence, if you use one)"
            )
        return [(None, message) for message in found]

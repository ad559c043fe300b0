"""The rankings: the default (the query's words and its code, scored together; a document-sized query's
code and word sketch) and pure Hamming.

Default: candidates are the documents whose posting lists hold the query's words (``WordIndex``: BM25,
each word counted as often as the query repeats it; its ``MAX_QUERY_WORDS`` rarest, of whose postings
the ``QUERY_POSTINGS`` that add most to a score: each list holds its strongest first, and at a million
documents a long query's common words, whose postings add little, would otherwise cost most of its
time) and the nearest codes (``CodeIndex.probe``: up to 100 from the balls within the radius; on
an index small enough to scan, the nearest 100). Each gets

    score = words / best words score among the candidates + weight * (1 - 2 * hamming / bits)

a convex-style combination of a lexical and a semantic score (Bruch et al., TOIS 2023, found such a
fusion better than reciprocal ranks). The code's weight depends on how many vocabulary words the query
has (``terms``): ``SHORT_CODE_WEIGHT`` up to ``LONG_QUERY`` of them, so that a query, a question or a
paragraph, is answered by its words first and the code orders what they leave close; then growing to
``LONG_CODE_WEIGHT`` at ``DOCUMENT_TERMS``, since the code of a whole document is a strong signal of
what it is about. benchmarks/RESULTS.md (ir-collections, user-queries) has the measurements behind
both: on test collections judged by people a larger weight for queries of 24 to 60 words cost them,
on "documents like this one" a smaller one cost topical precision.

A code computed from a few words is a weak signal, so a query of at most ``SHORT_QUERY`` vocabulary
words is ranked by a stronger one: the bitwise majority of its own code and the codes of its
``FEEDBACK_DOCUMENTS`` best documents by words (pseudo-relevance feedback, Rocchio's idea in Hamming
space; ties go to the query's own bit). Distances (``max_distance`` too) are to the code the query is
ranked by.

The answer is exact, the best k of all documents by that score (word scores as the postings read
hold them): a document outside the candidates scores at most the code's share at the distance where
the probed balls end, and only when that could reach the k-th best candidate (a query whose words
find little) does a scan bring the exact nearest k codes. Distances are read only for candidates
that could rank: one whose word score plus the code's largest share stays under the k-th best full
score of the nearest codes and the best by words alone cannot (an exact cut).

A document-sized query (``DOCUMENT_TERMS`` vocabulary words or more) and ``similar`` are ranked
without the posting lists, whose lists for a hundred words cost most of a whole document's query at a
million documents: by code and word sketch (``sketch``) among the documents within the least Hamming
ball that holds ``DOCUMENT_CANDIDATES`` (``document``).

Hamming: the true Hamming top k, exact code, then bit flips within a radius, then a scan.

A query none of whose words the index holds has no hits (``Query.known``), in every mode.

All three rank the index's segments (``Part``: a segment with the rows a filter, or a removal since it
was built, leaves out; only allowed rows can be hits, however few) and merge them; they take a page
(``offset`` hits skipped: page 2 of size 10 equals hits 11-20 of one search of 20) and
``max_distance`` (no hit farther than this many bits). Equal scores or distances come in ascending
order of the id hash, every segment's row order.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hashsearch.errors import InvalidParameterError
from hashsearch.index import codes as codelib
from hashsearch.index.modes import MODES
from hashsearch.index.parts import Page, Part, lookup, nearest, top
from hashsearch.index.sketch import SKETCH_BITS, sketch_distances
from hashsearch.index.words import nth_largest

# Nearest codes scored beside the word candidates: up to this many from the probed Hamming balls (a
# scan of every code costs a millisecond at 1M documents: ``hybrid`` makes one only when it must).
HASH_CANDIDATES = 100
MAX_QUERY_WORDS = 32  # a longer query's candidates come from its rarest words
QUERY_POSTINGS = 8000  # a query reads its words' postings that add most to a score, this many (``_reads``)
SHORT_CODE_WEIGHT, LONG_CODE_WEIGHT = 0.3, 1.5
SHORT_QUERY = 8  # vocabulary words: a query of at most this many is ranked by a fed-back code
FEEDBACK_DOCUMENTS = 10  # a short query's code is voted with the codes of this many best documents by words
# Distinct vocabulary words: the code's weight ramps between these. A query of ``DOCUMENT_TERMS`` or more is
# ranked as a document (``document``): its code weighs as much as it will, and its sketch compares it with
# the documents near that code.
LONG_QUERY, DOCUMENT_TERMS = 24, 96
DOCUMENT_CANDIDATES = 100  # the ball a document-sized query is ranked in holds at least this many
SKETCH_WEIGHT = 1.0
# Candidates past this many are cut to those whose score could rank (``_could_rank``) before their
# Hamming distances are read.
PRUNE_FROM = 512


@dataclass(frozen=True)
class Query:
    """What a search is ranked by: a packed code, and the query's word hashes (``hybrid``) or its
    sketch (``document``; neither: ``hamming``). ``known``: whether the index has seen any of the query's
    words; a query it knows nothing of has no hits, rather than the documents nearest a code computed
    from nothing."""

    code: np.ndarray
    words: np.ndarray | None = None
    sketch: np.ndarray | None = None
    known: bool = True
    counts: np.ndarray | None = None  # how often the query holds each of ``words`` (float32; None: once)
    terms: int = 0  # distinct vocabulary words: what the code was computed from


def checked_page(bits: int, k: int, radius: int | None, mode: str, offset: int,
                 max_distance: int | None) -> tuple[int, Page]:
    """(radius, page) of a search's options, each checked: a bad one raises ``InvalidParameterError``
    naming it, the values allowed and the value given. ``radius`` None: the default for ``bits``."""
    if _not_int(k) or k < 1:
        raise InvalidParameterError(f"k must be an int >= 1. Got {k!r} instead.")
    if mode not in MODES:
        raise InvalidParameterError(f"mode must be one of {', '.join(MODES)}. Got {mode!r} instead.")
    if _not_int(offset) or offset < 0:
        raise InvalidParameterError(f"offset must be an int >= 0. Got {offset!r} instead.")
    if max_distance is not None and (_not_int(max_distance) or not 0 <= max_distance <= bits):
        raise InvalidParameterError(f"max_distance must be an int in [0, {bits}]. Got {max_distance!r} instead.")
    if radius is None:
        radius = codelib.default_radius(bits)
    elif _not_int(radius) or not 0 <= radius <= bits:
        raise InvalidParameterError(f"radius must be an int in [0, {bits}]. Got {radius!r} instead.")
    return int(radius), Page(int(k), int(offset), None if max_distance is None else int(max_distance))


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, np.integer))


def is_document(n_terms: int) -> bool:
    """Whether a query of ``n_terms`` distinct vocabulary words is ranked as a document."""
    return n_terms >= DOCUMENT_TERMS


def rank(parts: list[Part], query: Query, radius: int, page: Page) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(ids, Hamming distances, scores or None) of the page's hits, by the ranking ``query`` asks for."""
    if not query.known:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64), None
    if query.sketch is not None:
        return document(parts, query.code, query.sketch, radius, page)
    if query.words is not None:
        return hybrid(parts, query.words, query.code, radius, page, query.counts, query.terms)
    return (*hamming(parts, query.code, radius, page), None)


def code_weight(n_terms: int) -> float:
    """How much the code counts against the words, for a query of ``n_terms`` distinct vocabulary words."""
    ramp = min(max((n_terms - LONG_QUERY) / (DOCUMENT_TERMS - LONG_QUERY), 0.0), 1.0)
    return SHORT_CODE_WEIGHT + ramp * (LONG_CODE_WEIGHT - SHORT_CODE_WEIGHT)


def hamming(parts: list[Part], query_code: np.ndarray, radius: int, page: Page) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) of the page's hits: the true Hamming top k over every part."""
    found = [(part.segment, *nearest(part, query_code, page.depth, radius, page.max_distance)) for part in parts]
    ids, keys, distances = (np.concatenate(column) for column in zip(*(
        (segment.ids[rows], segment.keys[rows], distances) for segment, rows, distances in found), strict=False))
    best = np.lexsort((keys, distances))[page.offset:page.depth]
    return ids[best], distances[best]


def hybrid(parts: list[Part], query_words: np.ndarray, query_code: np.ndarray, radius: int,
           page: Page, counts: np.ndarray | None = None, terms: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, Hamming distances, scores) of the page's hits for the query's words (hashes) and code,
    best first.

    The nearest codes come from the probed balls alone; only when the candidates' ``depth``-th best
    score could be matched by a document outside them (no query word, at least as far as the codes not
    probed) are they asked for again with a scan, the exact nearest ``depth``: a query whose words
    find little, or none."""
    listed, n_known = word_scores(parts, query_words, counts)
    query_code, weight = feedback_code(parts, listed, n_known, query_code, terms), code_weight(terms)
    for scan in (False, True):
        (numbers, rows, lexical), farther = _candidates_of(parts, listed, weight, query_code, radius, page, scan)
        distances = _distances(parts, query_code, numbers, rows)
        scores = _scores(lexical, distances, weight, parts[0].segment.index.bits)
        if scan or farther is None or _outside_cannot_rank(scores, page.depth, weight, farther, parts):
            break
    chosen = top(scores, page.depth)
    best = chosen[np.lexsort((lookup(parts, "keys", numbers[chosen], rows[chosen]),
                              -scores[chosen]))[page.offset:page.depth]]
    return lookup(parts, "ids", numbers[best], rows[best]), distances[best], scores[best]


def document(parts: list[Part], query_code: np.ndarray, query_sketch: np.ndarray, radius: int,
             page: Page) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, Hamming distances, scores) of the page's hits for a document-sized query: the documents
    within distance D of its code, D the least distance within which ``DOCUMENT_CANDIDATES`` lie
    (whole buckets: at a million documents one code can be shared by thousands), ranked by

        score = LONG_CODE_WEIGHT * (1 - 2 * hamming / bits) + SKETCH_WEIGHT * (1 - 2 * sketch hamming / 128)

    then, past them, every other document in Hamming order (deep pages only)."""
    bits = parts[0].segment.index.bits
    balls = [part.segment.index.ball(query_code, DOCUMENT_CANDIDATES, radius, part.allowed,
                                     len(part.segment) - part.excluded) for part in parts]
    numbers, rows, distances = _joined([(rows, distances) for rows, distances, _ in balls])
    reach = min(ball_reach for _, _, ball_reach in balls)  # each part's rows are complete up to its reach
    if len(parts) > 1 and len(rows) > DOCUMENT_CANDIDATES:
        reach = min(reach, int(np.searchsorted(np.cumsum(np.bincount(distances, minlength=bits + 1)),
                                               DOCUMENT_CANDIDATES)))
    limit = reach if page.max_distance is None else min(reach, page.max_distance)
    if len(parts) > 1 or limit < reach:
        numbers, rows, distances = _picked((numbers, rows, distances), distances <= limit)
    scores = _document_scores(parts, query_sketch, numbers, rows, distances, bits)
    best = top(scores, page.depth)  # the page's candidates, with every tie at the last
    order = best[np.lexsort((lookup(parts, "keys", *_picked((numbers, rows), best)), -scores[best]))]
    numbers, rows, distances, scores = _picked((numbers, rows, distances, scores), order)
    if len(rows) < page.depth and reach < bits:
        past = _joined([nearest(part, query_code, page.depth, radius, page.max_distance) for part in parts])
        more = _picked(past, past[2] > reach)
        more = _picked(more, np.lexsort((lookup(parts, "keys", *more[:2]), more[2]))[:page.depth - len(rows)])
        more_numbers, more_rows, more_distances = more
        more_scores = _document_scores(parts, query_sketch, more_numbers, more_rows, more_distances, bits)
        found = (numbers, rows, distances, scores), (more_numbers, more_rows, more_distances, more_scores)
        numbers, rows, distances, scores = (np.concatenate([mine, theirs]) for mine, theirs in zip(*found, strict=True))
    numbers, rows, distances, scores = _picked((numbers, rows, distances, scores), slice(page.offset, page.depth))
    return lookup(parts, "ids", numbers, rows), distances, scores


def _picked(columns: Sequence[np.ndarray], index: np.ndarray | slice) -> list[np.ndarray]:
    """Each column indexed alike."""
    return [column[index] for column in columns]


def _document_scores(parts: list[Part], query_sketch: np.ndarray, numbers: np.ndarray, rows: np.ndarray,
                     distances: np.ndarray, bits: int) -> np.ndarray:
    sketched = _per_part(parts, numbers, rows, np.uint8,
                         lambda part, mine: sketch_distances(part.segment.sketches, mine, query_sketch))
    # The docstring's score, as one subtraction of two scaled distances (a third of the array passes).
    return (LONG_CODE_WEIGHT + SKETCH_WEIGHT) - (2 * LONG_CODE_WEIGHT / bits * distances
                                                 + 2 * SKETCH_WEIGHT / SKETCH_BITS * sketched)


def _joined(found: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """(part numbers, rows, distances) of each part's (rows, distances), concatenated."""
    if len(found) == 1:
        return [np.zeros(len(found[0][0]), dtype=np.int8), *found[0]]
    numbers = [np.full(len(rows), number, dtype=np.int8) for number, (rows, _) in enumerate(found)]
    return [np.concatenate(numbers), *(np.concatenate(column) for column in zip(*found, strict=False))]


def word_scores(parts: list[Part], query_words: np.ndarray,
                counts: np.ndarray | None = None) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Each part's (rows, BM25 scores) of the allowed documents that hold the query's words (its
    ``MAX_QUERY_WORDS`` rarest, their postings that add most: ``_reads``), and how many of the query's
    words (hashes) some part knows."""
    known = np.zeros(len(query_words), dtype=bool)
    chosen = []  # each part's (positions of the words it reads, their hashes, how often the query holds them)
    for part in parts:
        words, held = part.segment.words.locate(query_words)
        known |= held
        rarest = part.segment.words.rarest(words, MAX_QUERY_WORDS)
        chosen.append((words[rarest], query_words[held][rarest], None if counts is None else counts[held][rarest]))
    if len(parts) == 1:  # the budget taken within the one index, each list filtered once
        (words, _, mine), part = chosen[0], parts[0]
        return [part.segment.words.scores(words, allowed=part.allowed, counts=mine, budget=QUERY_POSTINGS)], \
            int(known.sum())
    reads = _reads(parts, chosen)
    listed = [part.segment.words.scores(words, allowed=part.allowed, counts=mine, reads=part_reads)
              for part, (words, _, mine), part_reads in zip(parts, chosen, reads, strict=True)]
    return listed, int(known.sum())


def _reads(parts: list[Part],
           chosen: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> list[np.ndarray | None]:
    """How many postings each of several parts reads of each word it reads (``chosen``: each part's positions,
    hashes and counts of them; None: all): the ``QUERY_POSTINGS`` that add most to a score over all the
    parts, and any that tie the last of them.

    The floor is what one posting adds, so that the parts read what one index of all their documents
    would: a split into segments or shards does not change an answer."""
    scales = [part.segment.words.scales(words, mine) for part, (words, _, mine) in zip(parts, chosen, strict=True)]
    # a list's postings past its QUERY_POSTINGS + 1 strongest can be read only by a tie (``reaching`` counts)
    added = np.concatenate([part.segment.words.contributions(words, part_scales, QUERY_POSTINGS + 1, part.allowed)
                            for part, (words, _, _), part_scales in zip(parts, chosen, scales, strict=True)])
    if len(added) <= QUERY_POSTINGS:
        return [None] * len(parts)
    floor = nth_largest(added, QUERY_POSTINGS)
    return [part.segment.words.reaching(words, part_scales, floor, part.allowed)
            for part, (words, _, _), part_scales in zip(parts, chosen, scales, strict=True)]


def feedback_code(parts: list[Part], listed: list[tuple[np.ndarray, np.ndarray]], n_known: int,
                  query_code: np.ndarray, terms: int = 0) -> np.ndarray:
    """The packed code a query is ranked by: its own, or for a query of at most ``SHORT_QUERY`` vocabulary
    words (``terms``) some of whose words the index holds (``n_known``), the bitwise majority of its own
    and those of its ``FEEDBACK_DOCUMENTS`` best documents by word score (``listed``, from
    ``word_scores``; ties by the id hash), a tie of votes going to its own bit."""
    if not FEEDBACK_DOCUMENTS or not n_known or terms > SHORT_QUERY:
        return query_code
    found = []  # (word scores, id hashes, codes) of each part's best documents by words
    for part, (rows, lexical) in zip(parts, listed, strict=False):
        best = top(lexical, FEEDBACK_DOCUMENTS)
        rows, lexical = rows[best], lexical[best]
        found.append((lexical, part.segment.keys[rows], part.segment.index.codes[rows]))
    lexical, keys, codes = (np.concatenate(column) for column in zip(*found, strict=False))
    best = np.lexsort((keys, -lexical))[:FEEDBACK_DOCUMENTS]
    own = np.unpackbits(query_code)
    votes = 2 * (np.unpackbits(codes[best], axis=1).sum(axis=0, dtype=np.int64) + own) - (len(best) + 1)
    return np.packbits((votes > 0) | ((votes == 0) & (own == 1)))


def _candidates_of(parts: list[Part], listed: list[tuple[np.ndarray, np.ndarray]], weight: float,
                   query_code: np.ndarray, radius: int, page: Page,
                   scan: bool) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int | None]:
    """((part numbers, rows, normalised word scores) of the candidates that could rank, farther): every
    row outside the candidates and the query words' posting lists (``listed``) is at least ``farther``
    bits away (None: there is no such row)."""
    # (part number, rows, word scores) of each part's candidates, its nearest codes first
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    nearest_codes: list[np.ndarray] = []
    farther: int | None = None
    for number, (part, (listed_rows, listed_scores)) in enumerate(zip(parts, listed, strict=False)):
        segment = part.segment
        code_rows, _, floor = _nearest_codes(part, query_code, max(page.depth, HASH_CANDIDATES), radius,
                                             page.max_distance, page.depth, scan)
        rows, lexical = segment.words.put_first(listed_rows, listed_scores, code_rows)
        if page.max_distance is not None:  # the best word score is the best among the hits allowed
            near = segment.index.distances(query_code, rows) <= page.max_distance
            rows, lexical = rows[near], lexical[near]  # the nearest codes, all near, stay first
        start = sum(len(found_rows) for _, found_rows, _ in found)
        nearest_codes.append(np.arange(start, start + len(code_rows)))
        if floor <= segment.index.bits:
            farther = floor if farther is None else min(farther, floor)
        found.append((np.full(len(rows), number, dtype=np.int8), rows, lexical))
    numbers, rows, lexical = (np.concatenate(column) if len(found) > 1 else column[0]
                              for column in zip(*found, strict=True))
    if len(lexical) and (best_words := lexical.max()) > 0:
        lexical = lexical / best_words
    return _could_rank(parts, query_code, numbers, rows, lexical, weight, page.depth,
                       np.concatenate(nearest_codes), farther or 0), farther


def _nearest_codes(part: Part, query_code: np.ndarray, k: int, radius: int, max_distance: int | None,
                   enough: int, scan: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(rows, distances, floor): the part's nearest codes, an exact Hamming prefix of its allowed rows
    within ``max_distance``: without ``scan``, as many as the probed balls hold (``CodeIndex.probe``);
    every allowed row left out is at least ``floor`` bits away, or farther than ``max_distance``."""
    if part.allowed is None and not scan:
        rows, distances, floor = part.segment.index.probe(query_code, k, radius, enough)
    else:
        rows, distances = nearest(part, query_code, k, radius, None, enough)
        floor = int(distances[-1]) if len(rows) else part.segment.index.bits + 1
    if max_distance is not None:
        near = distances <= max_distance
        rows, distances = rows[near], distances[near]
    return rows, distances, floor


def _outside_cannot_rank(scores: np.ndarray, depth: int, weight: float, farther: int, parts: list[Part]) -> bool:
    """Whether the ``depth``-th best candidate beats every row outside the candidates: in none of the
    query words' posting lists (word score 0), at least ``farther`` bits away; a tie does not, as the
    id hash could put that row first."""
    if len(scores) < depth:
        return False
    kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
    return float(kth) > weight * (1 - 2 * farther / parts[0].segment.index.bits) + 1e-5


def _scores(lexical: np.ndarray, distances: np.ndarray, weight: float, bits: int) -> np.ndarray:
    return lexical + np.float32(weight) * (1 - 2 * distances / np.float32(bits))


def _could_rank(parts: list[Part], query_code: np.ndarray, numbers: np.ndarray, rows: np.ndarray,
                lexical: np.ndarray, weight: float, depth: int, nearest_codes: np.ndarray,
                farther: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates whose score could reach the top ``depth``, an exact cut that spares most of the
    Hamming distances of a common word's documents. The nearest codes (at ``nearest_codes``) and the
    best by words alone, scored in full, set a bar: the ``depth``-th best of their scores. Every other
    candidate is at least ``farther`` bits away, so one whose word score plus the code's largest share
    at that distance stays under the bar cannot rank."""
    if len(rows) <= max(PRUNE_FROM, 4 * depth):
        return numbers, rows, lexical
    is_seed = np.zeros(len(rows), dtype=bool)
    is_seed[nearest_codes] = True
    is_seed[_best_by_words(lexical, depth)] = True
    seeds = np.flatnonzero(is_seed)
    bits = parts[0].segment.index.bits
    seed_scores = _scores(lexical[seeds], _distances(parts, query_code, numbers[seeds], rows[seeds]), weight, bits)
    bar = float(np.partition(seed_scores, len(seeds) - depth)[len(seeds) - depth])
    share = weight * (1 - 2 * farther / bits)
    could = lexical >= np.float32(bar - share - 1e-5)  # the margin covers float rounding
    could |= is_seed
    keep = np.flatnonzero(could)
    return numbers[keep], rows[keep], lexical[keep]


def _best_by_words(lexical: np.ndarray, depth: int) -> np.ndarray:
    """Positions of at least ``depth`` candidates, among them the ``depth`` best by word score (at most 1),
    found by halving a threshold: a partition of thousands of scores costs several such passes."""
    threshold = 0.5
    while (best := np.flatnonzero(lexical >= np.float32(threshold))).size < depth and threshold > 1e-3:
        threshold /= 2
    if best.size < depth:
        return np.argpartition(lexical, len(lexical) - depth)[len(lexical) - depth:]
    if best.size > 8 * depth:
        best = best[np.argpartition(lexical[best], best.size - depth)[best.size - depth:]]
    return best


def _distances(parts: list[Part], query_code: np.ndarray, numbers: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The Hamming distance from the query to each candidate (part number, row)."""
    return _per_part(parts, numbers, rows, np.int64, lambda part, mine: part.segment.index.distances(query_code, mine))


def _per_part(parts: list[Part], numbers: np.ndarray, rows: np.ndarray, dtype: type,
              measure: Callable[[Part, np.ndarray], np.ndarray]) -> np.ndarray:
    """``measure(part, rows)`` for each candidate (part number, row), part by part."""
    if len(parts) == 1:
        return measure(parts[0], rows)
    values: np.ndarray = np.empty(len(rows), dtype=dtype)
    for number, part in enumerate(parts):
        mine = numbers == number
        values[mine] = measure(part, rows[mine])
    return values

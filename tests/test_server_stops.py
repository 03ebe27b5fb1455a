"""Stop strings over streamed text pieces (no model needed)."""

from mlx_entropix.server.stops import StopMatcher


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[list[str], bool]:
    out = []
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out.append(text)
        if stopped:
            return out, True
    return out + [matcher.flush()], False


def test_without_stops_text_passes_through_unchanged() -> None:
    assert feed_all(StopMatcher([]), ["a", "b\n", ""]) == (["a", "b\n", "", ""], False)


def test_a_stop_split_across_pieces_is_never_sent() -> None:
    out, stopped = feed_all(StopMatcher(["END"]), ["one E", "N", "D two"])
    assert stopped and "".join(out) == "one " and out[0] == "one "


def test_a_false_start_is_released_when_the_next_piece_breaks_it() -> None:
    out, stopped = feed_all(StopMatcher(["END"]), ["one E", "Nx", " two"])
    assert not stopped and out == ["one ", "ENx", " two", ""]


def test_held_text_comes_out_at_the_end() -> None:
    assert feed_all(StopMatcher(["\n\n"]), ["a\n"]) == (["a", "\n"], False)


def test_the_earliest_of_several_stops_wins() -> None:
    out, stopped = feed_all(StopMatcher(["world", "lo"]), ["hello world"])
    assert stopped and out == ["hel"]

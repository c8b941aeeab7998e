"""The relevance vote: pitch states, the rules that change them, tallies, statistics, pages."""

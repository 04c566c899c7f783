#!/usr/bin/env bash
# verify-doc-refs.sh: every Markdown file that the repository names (in code
# comments, help texts, READMEs, manifests, scripts, Makefiles) must exist in
# the repository, so that a reader who follows a reference finds it.
#
# A name like `docs/design.md` or `../nfd-rules/README.md` resolves when it
# exists relative to the naming file's directory or to the repository root; the
# target of a Markdown link, [text](path), only relative to its file.
# URLs, and Markdown links to URLs with their text, are not checked: upstream
# files are cited that way (docs/sources.md).
# Names built at run time ($VAR/x.md, results-<size>.md, *.md) are skipped,
# and so are the files the code writes (NOT_REFS below).
#
# Run by `make verify`; exits 1 and lists file:line: name for each miss.
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"

# Output files written by the code, not references to repository files.
NOT_REFS="latency.md"

{ git ls-files -z -- ':!:*/testdata/*' ':!:bench/results/*' |
  xargs -0 grep -nIE '\.md([^A-Za-z0-9_]|$)' -- 2>/dev/null || true; } |
  NOT_REFS="$NOT_REFS" perl -ne '
    BEGIN { %skip = map { $_ => 1 } split(/\s+/, $ENV{NOT_REFS}); $bad = 0; }
    chomp;
    my ($file, $line, $text) = split(/:/, $_, 3);
    $text =~ s#\[[^\]]*\]\([a-z][a-z0-9+.-]*://[^)]*\)##gi;   # [upstream](URL) links
    $text =~ s#\b[a-z][a-z0-9+.-]*://\S+##gi;          # URLs
    (my $dir = $file) =~ s#/?[^/]*$##;
    while ($text =~ m#(?<![\w./\$}>*~%-])((?:\.\.?/)*[\w-][\w./-]*\.md)(?![\w])#g) {
      my $ref = $1;
      next if $skip{$ref};
      my $link = $-[1] >= 2 && substr($text, $-[1] - 2, 2) eq "](";
      my $local = $dir eq "" ? $ref : "$dir/$ref";
      my @try = $link ? ($local) : ($local, $ref);   # a Markdown link is relative to its file
      next if grep { -f $_ } @try;
      print "$file:$line: $ref does not exist in the repository\n";
      $bad = 1;
    }
    END { exit $bad }
  ' || { echo "verify-doc-refs: point these references at a file in the repository (see docs/README.md)"; exit 1; }
echo "verify-doc-refs: every referenced .md file exists"

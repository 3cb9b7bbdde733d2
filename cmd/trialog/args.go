package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// normalizeArgs lets people type flags where they like, as with most
// tools: urfave/cli stops parsing a command's flags at its first
// positional argument, so `ingest FILE --dataset AE` would read
// "--dataset" and "AE" as two more files. It finds the command (and
// subcommand) named in args and moves every flag written after the first
// positional argument, with its value when it takes one, in front of the
// positional arguments; an application-wide flag (--max-fields …) written
// after the command moves before the command. After "--" nothing is a
// flag. It also turns a mistyped command into a usage error suggesting the
// closest one.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	cmds, flags := app.Commands, app.Flags
	var leaf *cli.Command
	i := 1
	for i < len(args) && leaf == nil {
		tok := args[i]
		switch {
		case tok == "--":
			return args, nil
		case isFlag(tok):
			i += flagWidth(flags, tok, args[i+1:])
			continue
		}
		if tok == "help" || tok == "h" {
			return args, nil
		}
		cmd := findCommand(cmds, tok)
		if cmd == nil {
			where := strings.Join(append([]string{"trialog"}, commandWords(args[1:i])...), " ")
			return nil, usageErr("%s has no command %q%s (see %s --help)", where, tok, suggestion(cmds, tok), where)
		}
		i++
		if len(cmd.Subcommands) > 0 {
			cmds, flags = cmd.Subcommands, cmd.Flags
			continue
		}
		leaf = cmd
	}
	if leaf == nil {
		return args, nil
	}
	var global, local, positional []string
	dashDash := false
	for j := i; j < len(args); j++ {
		tok := args[j]
		switch {
		case dashDash:
			positional = append(positional, tok)
		case tok == "--":
			dashDash = true
		case !isFlag(tok):
			positional = append(positional, tok)
		case lookupFlag(leaf.Flags, tok) == nil && lookupFlag(app.Flags, tok) != nil:
			n := flagWidth(app.Flags, tok, args[j+1:])
			global = append(global, args[j:j+n]...)
			j += n - 1
		default:
			n := flagWidth(leaf.Flags, tok, args[j+1:])
			local = append(local, args[j:j+n]...)
			j += n - 1
		}
	}
	out := append([]string{args[0]}, global...)
	out = append(out, args[1:i]...)
	out = append(out, local...)
	if dashDash {
		out = append(out, "--")
	}
	return append(out, positional...), nil
}

func isFlag(tok string) bool { return len(tok) > 1 && tok[0] == '-' }

// flagName is the name in "-x", "--name" or "--name=value".
func flagName(tok string) (name string, hasValue bool) {
	name = strings.TrimLeft(tok, "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue
}

func lookupFlag(flags []cli.Flag, tok string) cli.Flag {
	name, _ := flagName(tok)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// flagWidth is how many tokens the flag tok takes: 2 when its value is the
// next token, else 1 (boolean and unknown flags, --name=value, help).
func flagWidth(flags []cli.Flag, tok string, rest []string) int {
	if _, inline := flagName(tok); inline || len(rest) == 0 {
		return 1
	}
	f := lookupFlag(flags, tok)
	if f == nil {
		return 1
	}
	if _, isBool := f.(*cli.BoolFlag); isBool {
		return 1
	}
	return 2
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// commandWords drops flags (and cannot know their values: only used for
// the message) from the words before a bad command.
func commandWords(args []string) []string {
	var out []string
	for _, a := range args {
		if !isFlag(a) {
			out = append(out, a)
		}
	}
	return out
}

// suggestion names the visible command closest to a mistyped one, by
// Levenshtein distance, when it is close enough to be a typo.
func suggestion(cmds []*cli.Command, typed string) string {
	best, bestDist := "", len(typed)/2+1
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, n := range c.Names() {
			if d := editDistance(typed, n); d < bestDist || (d == bestDist && best == "") {
				best, bestDist = n, d
			}
		}
	}
	if best == "" || bestDist > len(typed)/2 {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance, counting a swap of two
// neighbours (ingset → ingest) as one edit.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

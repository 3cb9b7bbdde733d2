package main

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is what `trialog --version` prints after "trialog version": the
// module version (a tag, or "(devel)" for a build from a checkout), the
// commit and whether the tree had local changes, and the Go release, from
// the build information Go records in every binary.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (" + runtime.Version() + ")"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified, at string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		case "vcs.time":
			at = ", " + s.Value
		}
	}
	parts := []string{runtime.Version()}
	if rev != "" {
		parts = append([]string{"commit " + rev[:min(12, len(rev))] + at + modified}, parts...)
	}
	return v + " (" + strings.Join(parts, "; ") + ")"
}

// markRequired appends "(required)" to the help of every required flag,
// which urfave/cli's help does not show by itself.
func markRequired(cmds []*cli.Command) {
	for _, c := range cmds {
		for _, f := range c.Flags {
			if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
				switch f := f.(type) {
				case *cli.StringFlag:
					f.Usage += " (required)"
				case *cli.IntFlag:
					f.Usage += " (required)"
				case *cli.StringSliceFlag:
					f.Usage += " (required)"
				case *cli.TimestampFlag:
					f.Usage += " (required)"
				case *cli.BoolFlag:
					f.Usage += " (required)"
				}
			}
		}
		markRequired(c.Subcommands)
	}
}

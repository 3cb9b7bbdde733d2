package main

import (
	"bytes"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/verify/browser"
)

func verifierPageCommand() *cli.Command {
	return &cli.Command{
		Name:      "verifier-page",
		Usage:     "write the browser verifier: one self-contained HTML page that verifies packages offline, in the browser",
		ArgsUsage: "OUT.html",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("verifier-page takes exactly one OUT.html")
			}
			var page bytes.Buffer
			if err := browser.WritePage(&page); err != nil {
				return err
			}
			// No personal data in it: readable by all, like the verifier key.
			if err := durable.WriteFile(c.Args().First(), page.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Printf("%s: browser verifier, %.1f MB; open it from disk in a current browser, offline\n", c.Args().First(), float64(page.Len())/1e6)
			return nil
		},
	}
}

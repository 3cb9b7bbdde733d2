package main

import "github.com/trialog/trialog/pipeline/source"

// extraReaders are the clinical formats read by their own packages.
func extraReaders() map[source.Format]source.ReaderFunc { return nil }

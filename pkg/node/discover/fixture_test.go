package discover

import "path/filepath"

// fixtureOptions discovers the fixture tree testdata/<name> with the
// stand-ins of UseFixtureDevices.
func fixtureOptions(name string) Options {
	o := Options{HostRoot: filepath.Join("testdata", name)}
	UseFixtureDevices(&o)
	return o
}

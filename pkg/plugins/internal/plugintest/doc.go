// Package plugintest holds the test doubles that the plugins' unit tests
// share, so that each is written once. Only tests import it.
package plugintest

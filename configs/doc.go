// Package configs embeds shopwatch's default configuration: the rule sets
// under rules/ (one YAML file per legal area) and the default settings in
// shopwatch.yaml, so that the binary runs with nothing beside it. A --config
// file or a rules directory on disk overrides them.
package configs

import "embed"

// FS holds the embedded default configuration files.
//
//go:embed rules/*.yaml lexicon/*.yaml festivals.yaml shopwatch.yaml
var FS embed.FS

// DefaultConfig is the text of the built-in shopwatch.yaml.
//
//go:embed shopwatch.yaml
var DefaultConfig []byte

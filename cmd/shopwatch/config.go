package main

import (
	"fmt"
	"time"
)

// startup loads and checks the configuration once, before the command
// does anything: a missing --config file, an unknown key or a bad value
// stops every command with a usage error naming the file, line and key.
func (a *app) startup() error {
	if a.started {
		return nil
	}
	a.started = true
	c, err := a.config()
	if err != nil {
		return &errExit{code: exitUsage, err: err}
	}
	if err := c.Validate(); err != nil {
		return &errExit{code: exitUsage, err: err}
	}
	return nil
}

// Validate checks the settings that the sections' own Validate methods do
// not: it is called once at start-up.
func (c *Config) Validate() error {
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			return fmt.Errorf("config: timezone %q is not a known time zone (want an IANA name such as Asia/Shanghai or UTC)", c.Timezone)
		}
	}
	return nil
}

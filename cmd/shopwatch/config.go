package main

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
	return nil
}

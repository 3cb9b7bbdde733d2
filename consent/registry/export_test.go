package registry

// SetAfterAppend installs a hook run between the log append and the
// registry write, to simulate a crash there.
func (r *Registry) SetAfterAppend(fn func() error) { r.afterAppend = fn }

package harness

import "errors"

// ErrInput marks errors in what Check and CheckHistory were given: a path
// that is not a run directory, a history or spec that cannot be read or
// parsed, an unknown model. Any other error of theirs (writing results or
// the report) is the harness failing, not the user.
var ErrInput = errors.New("bad input")

// inputError wraps err as ErrInput without changing its message.
type inputError struct{ err error }

func (e inputError) Error() string        { return e.err.Error() }
func (e inputError) Unwrap() error        { return e.err }
func (e inputError) Is(target error) bool { return target == ErrInput }

// badInput marks err (when not nil) as ErrInput.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

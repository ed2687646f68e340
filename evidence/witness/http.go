package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"shopwatch/evidence/ledger"
)

// API paths of a witness (see the package documentation).
const (
	CosignPath     = "/v1/cosign"
	CheckpointPath = "/v1/checkpoint"
)

type errorBody struct {
	Error         string  `json:"error"`
	WitnessedSize *uint64 `json:"witnessed_size,omitempty"`
}

type cosignBody struct {
	Cosignature *ledger.Cosignature `json:"cosignature"`
}

// Handler returns the witness's HTTP API.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+CosignPath, w.serveCosign)
	mux.HandleFunc("GET "+CheckpointPath, w.serveCheckpoint)
	return mux
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	enc := json.NewEncoder(rw)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (w *Witness) serveCosign(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestSize))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeJSON(rw, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("request body larger than %d bytes", MaxRequestSize)})
		return
	case err != nil:
		writeJSON(rw, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("read request: %v", err)})
		return
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(rw, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("%v: %v", ErrMalformed, err)})
		return
	}
	cs, err := w.Cosign(r.Context(), &req)
	if err != nil {
		var ce *ConflictError
		status := http.StatusInternalServerError
		switch {
		case errors.As(err, &ce):
			size := ce.WitnessedSize
			writeJSON(rw, http.StatusConflict, errorBody{Error: err.Error(), WitnessedSize: &size})
			w.log.WarnContext(r.Context(), "witness refused an inconsistent checkpoint", "log", req.Checkpoint.LogID, "size", req.Checkpoint.Size, "err", err)
			return
		case errors.Is(err, ErrMalformed):
			status = http.StatusBadRequest
		case errors.Is(err, ErrUnknownLog), errors.Is(err, ErrBadSignature), errors.Is(err, ErrBadTime):
			status = http.StatusForbidden
		}
		w.log.WarnContext(r.Context(), "witness refused a checkpoint", "status", status, "err", err)
		writeJSON(rw, status, errorBody{Error: err.Error()})
		return
	}
	writeJSON(rw, http.StatusOK, cosignBody{Cosignature: cs})
}

func (w *Witness) serveCheckpoint(rw http.ResponseWriter, r *http.Request) {
	logID, keyID := r.URL.Query().Get("log"), r.URL.Query().Get("key")
	if logID == "" || keyID == "" {
		writeJSON(rw, http.StatusBadRequest, errorBody{Error: "name the log: ?log=<log id>&key=<log key id>"})
		return
	}
	rec, ok := w.Latest(logID, keyID)
	if !ok {
		writeJSON(rw, http.StatusNotFound, errorBody{Error: fmt.Sprintf("no checkpoint of log %s key %s co-signed", logID, keyID)})
		return
	}
	writeJSON(rw, http.StatusOK, rec)
}

// Client talks to one witness.
type Client struct {
	// URL is the witness's base URL, e.g. http://127.0.0.1:8455.
	URL string
	// KeyID is the witness key id its co-signatures must carry.
	KeyID string
	// HTTP is the client used (default: one with a 30 s timeout).
	HTTP *http.Client
}

// StatusError is an answer of a witness other than 200.
type StatusError struct {
	Status        int
	Message       string
	WitnessedSize *uint64
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("witness answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4*MaxRequestSize))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &StatusError{Status: resp.StatusCode, Message: eb.Error, WitnessedSize: eb.WitnessedSize}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("witness answer: %w", err)
	}
	return nil
}

// Latest asks the witness for the latest checkpoint of the log it
// co-signed; nil when it co-signed none. The co-signature is checked.
func (c *Client) Latest(ctx context.Context, logID, logKeyID string) (*Witnessed, error) {
	q := url.Values{"log": {logID}, "key": {logKeyID}}
	var rec Witnessed
	err := c.do(ctx, http.MethodGet, CheckpointPath+"?"+q.Encode(), nil, &rec)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("witness %s: latest checkpoint: %w", c.URL, err)
	}
	if err := c.check(&rec.Cosignature, rec.Checkpoint.Note); err != nil {
		return nil, fmt.Errorf("witness %s: latest checkpoint: %w", c.URL, err)
	}
	return &rec, nil
}

// Cosign asks the witness to co-sign a checkpoint and checks the
// co-signature it returns: valid, over the checkpoint's note, by KeyID.
func (c *Client) Cosign(ctx context.Context, req *Request) (*ledger.Cosignature, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.URL, err)
	}
	var out cosignBody
	if err := c.do(ctx, http.MethodPost, CosignPath, body, &out); err != nil {
		return nil, fmt.Errorf("witness %s: co-sign size %d: %w", c.URL, req.Checkpoint.Size, err)
	}
	if out.Cosignature == nil {
		return nil, fmt.Errorf("witness %s: co-sign size %d: the answer has no co-signature", c.URL, req.Checkpoint.Size)
	}
	if err := c.check(out.Cosignature, req.Checkpoint.Note); err != nil {
		return nil, fmt.Errorf("witness %s: co-sign size %d: %w", c.URL, req.Checkpoint.Size, err)
	}
	return out.Cosignature, nil
}

func (c *Client) check(cs *ledger.Cosignature, note string) error {
	if c.KeyID != "" && cs.WitnessKeyID != c.KeyID {
		return fmt.Errorf("%w: signed by %s, the witness configured is %s", ledger.ErrBadCosignature, cs.WitnessKeyID, c.KeyID)
	}
	return cs.Verify(note)
}

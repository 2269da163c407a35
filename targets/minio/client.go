package minio

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faultline/faultline/workloads"
)

// Client serves the register and set workloads on one node. A worker uses
// its client from one goroutine.
type Client struct {
	node   string
	bucket string
	s3     *miniogo.Core
	http   *http.Transport
	log    *slog.Logger
}

var (
	_ workloads.RegisterClient = (*Client)(nil)
	_ workloads.SetClient      = (*Client)(nil)
)

// dialError marks a failure to open a connection: no byte of the request
// left the client, so the op certainly did not happen.
type dialError struct{ err error }

func (e dialError) Error() string { return "dial: " + e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// newS3 opens an S3 client pinned to one endpoint, with minio-go's retries
// off (MaxRetries 1 is one attempt: its default of 10 would re-send writes
// after a timeout or a 503, unseen by the history) and the region fixed,
// so no GetBucketLocation request precedes the first op. The deadline of
// each request is the op's context.
func newS3(endpoint string, cfg s3Config) (*miniogo.Core, *http.Transport, error) {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, dialError{err}
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	c, err := miniogo.NewCore(endpoint, &miniogo.Options{
		Creds:        credentials.NewStaticV4(cfg.accessKey, cfg.secretKey, ""),
		Region:       cfg.region,
		BucketLookup: miniogo.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   1,
	})
	if err != nil {
		tr.CloseIdleConnections()
		return nil, nil, fmt.Errorf("minio client for %s: %w", endpoint, err)
	}
	return c, tr, nil
}

// Close drops the client's connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// etagOf is the ETag MinIO gives an object with this content: the hex MD5
// of the body for a single-part PUT without server-side encryption. Values
// are unique per key, so the ETag names the value exactly.
func etagOf(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

func encode(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }

// --- register: one object per key ---

// Read gets the key's object: its value, and checks that its ETag is the
// one its content implies (cas relies on that).
func (c *Client) Read(ctx context.Context, key string) (int64, bool, error) {
	body, info, _, err := c.s3.GetObject(ctx, c.bucket, objectName(key), miniogo.GetObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return 0, false, nil
		}
		return 0, false, classify(err)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, 64))
	if err != nil {
		return 0, false, classify(fmt.Errorf("read body: %w", err))
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return 0, false, workloads.Definite(fmt.Errorf("key %s holds %q, not an integer", key, data))
	}
	if got, want := strings.Trim(info.ETag, `"`), etagOf(data); got != want {
		c.log.Warn("minio: object ETag is not the MD5 of its content; cas would compare the wrong tag",
			"node", c.node, "key", key, "value", v, "etag", got, "md5", want)
	}
	return v, true, nil
}

// Write puts the key's object unconditionally.
func (c *Client) Write(ctx context.Context, key string, value int64) error {
	return c.put(ctx, objectName(key), value, miniogo.PutObjectOptions{})
}

// CAS sets the key to new if it holds old, as one conditional PUT with
// If-Match: the ETag of old's content. Values are unique per key, so that
// ETag matches exactly when the key holds old, and MinIO evaluates it under
// the object's write lock: no read is involved, so a stale read cannot make
// a cas wrong. 412 PreconditionFailed means the object holds another value,
// 404 that it does not exist (If-Match needs an object): both are a definite
// "no".
func (c *Client) CAS(ctx context.Context, key string, old, new int64) (bool, error) {
	if old == 0 {
		// Workloads never write 0 and an unset key holds nothing: the
		// comparison certainly fails.
		return false, nil
	}
	var opts miniogo.PutObjectOptions
	opts.SetMatchETag(etagOf(encode(old)))
	err := c.put(ctx, objectName(key), new, opts)
	if isPreconditionFailed(err) || isNoSuchKey(err) {
		return false, nil
	}
	return err == nil, err
}

// put writes value as the body of object name with a single PUT.
func (c *Client) put(ctx context.Context, name string, value int64, opts miniogo.PutObjectOptions) error {
	data := encode(value)
	opts.ContentType = "text/plain"
	info, err := c.s3.PutObject(ctx, c.bucket, name, bytes.NewReader(data), int64(len(data)), "", "", opts)
	if err != nil {
		return classify(err)
	}
	if got, want := strings.Trim(info.ETag, `"`), etagOf(data); got != want {
		c.log.Warn("minio: PUT answered an ETag that is not the MD5 of the body", "node", c.node, "object", name, "etag", got, "md5", want)
	}
	return nil
}

// --- set: one object per element under the key's prefix ---

// AddElement creates the element's own object with If-None-Match: *, so
// that an add never overwrites anything. An add is sent once, so its
// object cannot exist yet; a 412 would say it does (the element is in the
// set though this add did not put it there), which is recorded as
// indeterminate rather than as a failure that did not happen.
func (c *Client) AddElement(ctx context.Context, key string, elem int64) error {
	var opts miniogo.PutObjectOptions
	opts.SetMatchETagExcept("*")
	err := c.put(ctx, elementName(key, elem), elem, opts)
	var er miniogo.ErrorResponse
	if isPreconditionFailed(err) && errors.As(err, &er) {
		// Not Definite: the element is in the set.
		return fmt.Errorf("element %d of set %s already exists: %w", elem, key, er)
	}
	return err
}

// ReadSet lists the key's prefix: MinIO promises list-after-write
// consistency, so a listing must show every element whose add completed.
func (c *Client) ReadSet(ctx context.Context, key string) ([]int64, error) {
	prefix := setPrefix(key)
	ctx, cancel := context.WithCancel(ctx) // stops the listing goroutine on an early return
	defer cancel()
	var out []int64
	for obj := range c.s3.Client.ListObjects(ctx, c.bucket, miniogo.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, classify(fmt.Errorf("list %s: %w", prefix, obj.Err))
		}
		e, err := parseElement(prefix, obj.Key)
		if err != nil {
			return nil, workloads.Definite(err)
		}
		out = append(out, e)
	}
	if err := ctx.Err(); err != nil {
		// The listing channel closes on cancellation without an error.
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	return out, nil
}

// --- errors ---

// classify marks err Definite when the request certainly had no effect:
// it never left the client (no connection could be made), or MinIO
// answered with a 4xx that refuses the request before acting (bad
// request, access denied, RequestTimeTooSkewed, no such bucket, a failed
// precondition, rate limiting), or it is a client-side error that sent
// nothing. Everything else stays indeterminate for writes: a timeout or a
// reset after sending, and every 5xx. MinIO's 503 SlowDownWrite
// (InsufficientWriteQuorum) is not a clean refusal: the object was written
// to the drives it reached, and when the rename to its final place fails
// quorum, MinIO undoes it only on the drives it can still reach
// (renameData in cmd/erasure-object.go), so the version may survive on
// some drives and be read or healed later. Reads that fail are fail
// whatever classify says (they changed nothing).
func classify(err error) error {
	if err == nil || workloads.IsDefinite(err) {
		return err
	}
	if definite(err) {
		return workloads.Definite(err)
	}
	return err
}

func definite(err error) bool {
	var de dialError
	if errors.As(err, &de) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var er miniogo.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	switch {
	case er.StatusCode == 0:
		// Built by minio-go itself (an invalid argument): never sent.
		return er.Code != ""
	case er.StatusCode == http.StatusRequestTimeout, er.StatusCode == 499:
		// The server gave up reading the request (or saw the client
		// go): it may have acted on part of it.
		return false
	case er.StatusCode >= 400 && er.StatusCode < 500:
		return true
	}
	return false
}

func isPreconditionFailed(err error) bool {
	var er miniogo.ErrorResponse
	return errors.As(err, &er) && (er.StatusCode == http.StatusPreconditionFailed || er.Code == "PreconditionFailed")
}

func isNoSuchKey(err error) bool {
	var er miniogo.ErrorResponse
	return errors.As(err, &er) && er.Code == "NoSuchKey"
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/incidentbot/incidentbot/internal/pager"
	"github.com/jackc/pgx/v5/pgxpool"
	bolt "go.etcd.io/bbolt"
)

var baselineBucket = []byte("deliveries")

// serveBaseline is the hidden mode "-serve-baseline ADDR DBFILE SECRET
// [MAXBATCHDELAY]": the least a durable webhook receiver can do, to compare
// the real server with. It serves POST /webhooks/pagerduty (read the body,
// capped at 1 MiB; verify the v1 HMAC-SHA256 signature; put event.id → body
// in one bbolt db.Batch; answer 202) and GET /readyz until SIGINT or
// SIGTERM. bbolt has its default options (fsync on every commit,
// MaxBatchDelay 10 ms) unless MAXBATCHDELAY, a Go duration, is given.
func serveBaseline(args []string) int {
	if len(args) != 3 && len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: incidentbot-load -serve-baseline ADDR DBFILE SECRET [MAXBATCHDELAY]")
		return 2
	}
	addr, path, secret := args[0], args[1], args[2]
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	defer db.Close()
	if len(args) == 4 {
		d, err := time.ParseDuration(args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			return 2
		}
		fmt.Fprintf(os.Stderr, "baseline: bbolt MaxBatchDelay %s (bbolt's default: %s), MaxBatchSize %d\n", d, db.MaxBatchDelay, db.MaxBatchSize)
		db.MaxBatchDelay = d
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(baselineBucket); return err }); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	return serveBaselineHTTP(addr, verified(secret, func(eventID string, body []byte) error {
		return db.Batch(func(tx *bolt.Tx) error {
			return tx.Bucket(baselineBucket).Put([]byte(eventID), body)
		})
	}))
}

// serveBaselinePG is the hidden mode "-serve-baseline-pg ADDR URL SECRET
// POOL": the same least work as serveBaseline, with the delivery kept in
// PostgreSQL: one INSERT of event.id, the time and the body in its own
// transaction (autocommit) on a pool of POOL connections, then 202. The
// URL's search_path selects the schema; fsync and synchronous_commit are
// the server's (on unless the server says otherwise).
func serveBaselinePG(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: incidentbot-load -serve-baseline-pg ADDR URL SECRET POOL")
		return 2
	}
	addr, rawURL, secret := args[0], args[1], args[2]
	pool, code := openPool("baseline", rawURL, args[3])
	if pool == nil {
		return code
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS baseline_deliveries (key bytea PRIMARY KEY, at timestamptz NOT NULL, body json NOT NULL)"); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	var sync string
	if err := pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sync); err == nil {
		fmt.Fprintf(os.Stderr, "baseline: PostgreSQL, pool of %d connections, synchronous_commit %s\n", pool.Config().MaxConns, sync)
	}
	return serveBaselineHTTP(addr, verified(secret, func(eventID string, body []byte) error {
		_, err := pool.Exec(context.Background(), "INSERT INTO baseline_deliveries (key, at, body) VALUES ($1, now(), $2)", []byte(eventID), body)
		return err
	}))
}

// serveBaselineHTTP serves POST /webhooks/pagerduty with h and GET /readyz
// on addr until SIGINT or SIGTERM.
func serveBaselineHTTP(addr string, h http.Handler) int {
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/pagerduty", h)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ready") })
	// The real server's timeouts (cmd/incidentbot newHTTPServer).
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			stop()
		}
	}()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "baseline: shutdown:", err)
		return 1
	}
	return 0
}

// verified is the baseline's handler: it reads the body (capped as the
// real server does), verifies the signature, decodes event.id, keeps the
// delivery with keep and answers 202.
func verified(secret string, keep func(eventID string, body []byte) error) http.HandlerFunc {
	secrets := []string{secret}
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readSigned(w, r, secrets)
		if !ok {
			return
		}
		var env struct {
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Event.ID == "" {
			http.Error(w, "no event.id", http.StatusBadRequest)
			return
		}
		if err := keep(env.Event.ID, body); err != nil {
			http.Error(w, "could not record the delivery", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// readSigned reads a webhook's body, capped as the real server does, and
// verifies its signature; it answers the request itself when either fails.
func readSigned(w http.ResponseWriter, r *http.Request, secrets []string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, pager.MaxBody))
	if err != nil {
		http.Error(w, "could not read body", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if !pager.VerifySignature(r.Header.Get("X-PagerDuty-Signature"), body, secrets) {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// openPool connects a pool of poolArg connections to rawURL for the hidden
// server modes; on a failure it says so (as who) and returns nil and the
// exit code (2: bad arguments).
func openPool(who, rawURL, poolArg string) (*pgxpool.Pool, int) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, who+":", err)
		return nil, 2
	}
	if _, err := fmt.Sscan(poolArg, &cfg.MaxConns); err != nil || cfg.MaxConns < 1 {
		fmt.Fprintln(os.Stderr, who+": POOL: want a positive number")
		return nil, 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, who+":", err)
		return nil, 1
	}
	return pool, 0
}

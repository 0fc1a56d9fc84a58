package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/audit"
	"github.com/wardenhq/warden/identity"
)

// Recorder writes audit events (audit.Store).
type Recorder interface {
	Record(ctx context.Context, e *audit.Event) error
}

// Options configure a Service.
type Options struct {
	Store    Store
	Recorder Recorder
	// Wait is how long Hold waits for a decision (default 30s); MaxWait
	// bounds Wait calls (default 5m); TTL is a request's lifetime
	// (default 1h).
	Wait, MaxWait, TTL time.Duration
	// Approvers apply when a rule names none.
	Approvers Approvers
	// BaseURL is where people reach the approval pages
	// (https://warden.example.com), for links; empty: no links.
	BaseURL string
	// Notifier is told of every new request and decision (webhooks).
	Notifier Notifier
	Logger   *slog.Logger
	// PollInterval is how often a wait looks at the store for decisions
	// made by another Warden process (default 500ms).
	PollInterval time.Duration
	// SweepInterval is how often expired requests are marked (default 10s).
	SweepInterval time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Notifier hears about approval events.
type Notifier interface {
	Notify(ev Event)
}

// Event is something that happened to a request, for notifiers.
type Event struct {
	// Kind is one of requested, approved, partially_approved, denied,
	// expired, executed, failed.
	Kind     string
	Approval *Approval
	// Decision is the verdict that caused the event, if one did.
	Decision *Decision
	Time     time.Time
}

// Event kinds.
const (
	EventRequested         = "requested"
	EventApproved          = "approved"
	EventPartiallyApproved = "partially_approved"
	EventDenied            = "denied"
	EventExpired           = "expired"
	EventExecuted          = "executed"
	EventFailed            = "failed"
)

// Service is the approval workflow: the Holder of the pipeline, the
// Tracker of the approval tools, and what the HTTP API and pages decide
// through.
type Service struct {
	store    Store
	recorder Recorder
	o        Options
	logger   *slog.Logger

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New builds a Service. Start runs its expiry sweeper.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Recorder == nil {
		return nil, errors.New("approvals: a Store and a Recorder are required")
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	if o.MaxWait < o.Wait {
		o.MaxWait = max(o.Wait, 5*time.Minute)
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	return &Service{store: o.Store, recorder: o.Recorder, o: o, logger: o.Logger,
		waiters: map[string]map[chan struct{}]struct{}{}}, nil
}

// Start runs the expiry sweeper until Close.
func (s *Service) Start() {
	s.once.Do(func() {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.sweep()
	})
}

// Close stops the sweeper.
func (s *Service) Close() {
	if s.stop == nil {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *Service) sweep() {
	defer close(s.done)
	t := time.NewTicker(s.o.SweepInterval)
	defer t.Stop()
	for {
		s.ExpireDue(context.Background())
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// ExpireDue marks the requests past their expiry expired, records and
// announces it.
func (s *Service) ExpireDue(ctx context.Context) {
	expired, err := s.store.ExpireDue(ctx, s.o.Now())
	if err != nil {
		s.logger.Error("mark expired approval requests", "err", err)
	}
	for _, a := range expired {
		s.withURL(a)
		s.record(ctx, "approval.expire", identity.Principal{Subject: "warden"}, a, "", audit.StatusOK, "")
		s.announce(EventExpired, a, nil)
	}
}

// MaxWait implements Tracker.
func (s *Service) MaxWait() time.Duration { return s.o.MaxWait }

// DefaultWait is how long Hold waits unless the context says otherwise.
func (s *Service) DefaultWait() time.Duration { return s.o.Wait }

// SetBaseURL sets where people reach the approval pages, once the
// server knows its address.
func (s *Service) SetBaseURL(u string) {
	s.mu.Lock()
	s.o.BaseURL = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

func (s *Service) withURL(a *Approval) *Approval {
	s.mu.Lock()
	base := s.o.BaseURL
	s.mu.Unlock()
	if base != "" && a != nil {
		a.URL = base + PagePrefix + a.ID
	}
	return a
}

// record writes an audit event for something that happened to a request.
func (s *Service) record(ctx context.Context, tool string, p identity.Principal, a *Approval, comment, status, errText string) error {
	args := map[string]string{"approval_id": a.ID}
	if comment != "" {
		args["comment"] = comment
	}
	b, _ := json.Marshal(args)
	ev := &audit.Event{
		Time: s.o.Now().UTC(), Identity: p.Subject, Groups: p.Groups, Issuer: p.Issuer, TokenID: p.TokenID,
		Tool: tool, Connection: a.Connection, Arguments: b, Statement: a.Statement,
		Decision: audit.DecisionReview, Rule: a.Rule, Status: status, Error: errText, Approval: a.ID,
	}
	err := s.recorder.Record(context.WithoutCancel(ctx), ev)
	if err != nil {
		s.logger.Error("approval audit event not written", "approval", a.ID, "event", tool, "err", err)
	}
	return err
}

func (s *Service) announce(kind string, a *Approval, d *Decision) {
	if s.o.Notifier == nil {
		return
	}
	s.o.Notifier.Notify(Event{Kind: kind, Approval: a, Decision: d, Time: s.o.Now().UTC()})
}

var (
	_ Holder   = (*Service)(nil)
	_ Finisher = (*Service)(nil)
	_ Tracker  = (*Service)(nil)
)

package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/incidentbot/incidentbot/internal/slackcmd/slackfake"
)

func newClient(t *testing.T) (*slackfake.Server, *slack.Client) {
	t.Helper()
	srv := slackfake.New()
	t.Cleanup(srv.Close)
	return srv, slack.New(slackfake.DefaultToken, slack.OptionAPIURL(srv.URL()))
}

// slackErr returns the Slack error name carried by err, or "" if none.
func slackErr(t *testing.T, err error) string {
	t.Helper()
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a slack.SlackErrorResponse", err, err)
	}
	return se.Err
}

// post posts a message through the client and returns its ts.
func post(t *testing.T, api *slack.Client, channelID string, opts ...slack.MsgOption) string {
	t.Helper()
	_, ts, err := api.PostMessage(channelID, opts...)
	if err != nil {
		t.Fatalf("chat.postMessage: %v", err)
	}
	return ts
}

func create(t *testing.T, api *slack.Client, name string) *slack.Channel {
	t.Helper()
	ch, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: name})
	if err != nil {
		t.Fatalf("create %q: %v", name, err)
	}
	return ch
}

func TestServer_URL_EndsWithAPISlash(t *testing.T) {
	srv := slackfake.New()
	defer srv.Close()
	if u := srv.URL(); !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/api/") {
		t.Fatalf("URL() = %q", u)
	}
}

func TestServer_AuthTest_ReportsTheBot(t *testing.T) {
	_, api := newClient(t)
	resp, err := api.AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if resp.UserID != "UBOT" || resp.BotID != "BBOT" || resp.TeamID != "T0001" || resp.User != "incidentbot" || resp.URL == "" {
		t.Fatalf("auth.test = %+v", resp)
	}
}

func TestServer_WrongToken_IsInvalidAuth(t *testing.T) {
	srv, _ := newClient(t)
	api := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.URL()))
	_, err := api.AuthTest()
	if got := slackErr(t, err); got != "invalid_auth" {
		t.Fatalf("error = %q, want invalid_auth", got)
	}
	if calls := srv.CallsTo("auth.test"); len(calls) != 1 || calls[0].OK || calls[0].Token != "xoxb-wrong" {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestServer_MissingToken_IsNotAuthed(t *testing.T) {
	srv, _ := newClient(t)
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	resp, err := http.PostForm(srv.URL()+"auth.test", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.OK || body.Error != "not_authed" {
		t.Fatalf("status %d, body %+v", resp.StatusCode, body)
	}
}

func TestServer_UnknownMethod_Is404UnknownMethod(t *testing.T) {
	srv, _ := newClient(t)
	resp, err := http.PostForm(srv.URL()+"no.such.method", url.Values{"token": {slackfake.DefaultToken}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || body["error"] != "unknown_method" {
		t.Fatalf("status %d, body %v", resp.StatusCode, body)
	}
}

func TestServer_JSONBodyWithBearerToken_IsAccepted(t *testing.T) {
	srv, _ := newClient(t)
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"conversations.create",
		strings.NewReader(`{"name":"json-made","is_private":true,"extra":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+slackfake.DefaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ch, found := srv.ChannelByName("json-made")
	if !found || !ch.IsPrivate {
		t.Fatalf("channel = %+v, found %v", ch, found)
	}
	p := srv.CallsTo("conversations.create")[0].Params
	if p.Get("name") != "json-made" || p.Get("is_private") != "true" || p.Get("extra") != `{"a":1}` || p.Has("token") {
		t.Fatalf("params = %v", p)
	}
}

func TestServer_CreateChannel_ReturnsItWithTheBotAsCreatorAndMember(t *testing.T) {
	srv, api := newClient(t)
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	srv.Now = func() time.Time { return now }
	first := create(t, api, "inc-1-db-down")
	second := create(t, api, "inc-2")
	if first.ID != "C0000001" || second.ID != "C0000002" || first.Name != "inc-1-db-down" {
		t.Fatalf("ids %q %q, name %q", first.ID, second.ID, first.Name)
	}
	if first.Creator != "UBOT" || !first.IsMember || first.Created.Time().Unix() != now.Unix() {
		t.Fatalf("channel = %+v", first)
	}
	if m := srv.Members(first.ID); len(m) != 1 || m[0] != "UBOT" {
		t.Fatalf("members = %v", m)
	}
}

func TestServer_CreateChannel_RejectsNamesAsSlackDoes(t *testing.T) {
	_, api := newClient(t)
	for name, want := range map[string]string{
		"":                      "invalid_name_required",
		strings.Repeat("a", 81): "invalid_name_maxlength",
		"Upper":                 "invalid_name_specials",
		"has space":             "invalid_name_specials",
		"#hash":                 "invalid_name_specials",
		"---":                   "invalid_name_punctuation",
		"_-_":                   "invalid_name_punctuation",
	} {
		_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: name})
		if got := slackErr(t, err); got != want {
			t.Errorf("create %q: error %q, want %q", name, got, want)
		}
	}
	create(t, api, strings.Repeat("a", 80))
}

func TestServer_CreateChannel_NameTakenByArchived(t *testing.T) {
	srv, api := newClient(t)
	srv.CreateChannelDirect("inc-7", "UHUMAN", true)
	_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: "inc-7"})
	if got := slackErr(t, err); got != "name_taken" {
		t.Fatalf("error %q, want name_taken", got)
	}
	if n := len(srv.Channels()); n != 1 {
		t.Fatalf("%d channels, want 1", n)
	}
}

func TestServer_ListConversations_PaginatesOver250Channels(t *testing.T) {
	srv, api := newClient(t)
	for i := range 250 {
		srv.CreateChannelDirect(fmt.Sprintf("chan-%03d", i), "UHUMAN", i%50 == 0)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		chans, next, err := api.GetConversations(&slack.GetConversationsParameters{Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(chans) > 100 {
			t.Fatalf("page of %d channels, default limit is 100", len(chans))
		}
		for _, c := range chans {
			if seen[c.Name] {
				t.Fatalf("%s listed twice", c.Name)
			}
			seen[c.Name] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 250 || pages != 3 {
		t.Fatalf("found %d channels in %d pages, want 250 in 3", len(seen), pages)
	}

	all, err := api.GetAllConversations(slack.GetConversationsOptionExcludeArchived(true), slack.GetConversationsOptionLimit(7))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 245 {
		t.Fatalf("unarchived: %d channels, want 245", len(all))
	}
}

func TestServer_ListConversations_HidesPrivateChannelsOfOthers(t *testing.T) {
	srv, api := newClient(t)
	mine, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: "mine", IsPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	create(t, api, "public")
	chans, _, err := api.GetConversations(&slack.GetConversationsParameters{Types: []string{"private_channel"}})
	if err != nil || len(chans) != 1 || chans[0].ID != mine.ID || !chans[0].IsPrivate {
		t.Fatalf("private list = %+v, %v", chans, err)
	}
	_, _, err = api.GetConversations(&slack.GetConversationsParameters{Cursor: "garbage!"})
	if got := slackErr(t, err); got != "invalid_cursor" {
		t.Fatalf("error %q, want invalid_cursor", got)
	}
	srv.AddMember(mine.ID, "UHUMAN")
	if got := srv.Members(mine.ID); strings.Join(got, ",") != "UBOT,UHUMAN" {
		t.Fatalf("members = %v", got)
	}
}

func TestServer_InviteUsers_ReportsSlackErrors(t *testing.T) {
	srv, api := newClient(t)
	srv.AddUser("U1", "alice", "alice@example.com")
	srv.AddUser("U2", "bob", "bob@example.com")
	ch := create(t, api, "inc-invite")

	got, err := api.InviteUsersToConversation(ch.ID, "U1")
	if err != nil || got.ID != ch.ID {
		t.Fatalf("invite U1: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		users []string
		want  string
	}{
		{[]string{"U1"}, "already_in_channel"},
		{[]string{"UBOT"}, "cant_invite_self"},
		{[]string{"U2", "UNOBODY"}, "user_not_found"},
	} {
		_, err := api.InviteUsersToConversation(ch.ID, tc.users...)
		if got := slackErr(t, err); got != tc.want {
			t.Errorf("invite %v: error %q, want %q", tc.users, got, tc.want)
		}
	}
	if _, err := api.InviteUsersToConversation(ch.ID, "U1", "U2"); err != nil {
		t.Fatalf("invite U1,U2 with U1 already in: %v", err)
	}
	if m := srv.Members(ch.ID); strings.Join(m, ",") != "UBOT,U1,U2" {
		t.Fatalf("members = %v", m)
	}
	srv.ArchiveChannel(ch.ID)
	_, err = api.InviteUsersToConversation(ch.ID, "U1")
	if got := slackErr(t, err); got != "is_archived" {
		t.Fatalf("error %q, want is_archived", got)
	}
}

func TestServer_ChannelOfSomeoneElse_NeedsJoinBeforeTopicAndInvite(t *testing.T) {
	srv, api := newClient(t)
	srv.AddUser("U1", "alice", "alice@example.com")
	other := srv.CreateChannelDirect("general", "UHUMAN", false)
	_, err := api.SetTopicOfConversation(other.ID, "x")
	if got := slackErr(t, err); got != "not_in_channel" {
		t.Fatalf("setTopic error %q, want not_in_channel", got)
	}
	if _, _, _, err := api.JoinConversation(other.ID); err != nil {
		t.Fatal(err)
	}
	ch, err := api.SetTopicOfConversation(other.ID, "SEV1: database down")
	if err != nil || ch.Topic.Value != "SEV1: database down" || srv.Topic(other.ID) != "SEV1: database down" {
		t.Fatalf("setTopic: %+v, %v", ch, err)
	}
	if _, err := api.SetTopicOfConversation("C9999999", "x"); slackErr(t, err) != "channel_not_found" {
		t.Fatalf("setTopic on unknown channel: %v", err)
	}
	if err := api.ArchiveConversation(other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := api.SetTopicOfConversation(other.ID, "x"); slackErr(t, err) != "is_archived" {
		t.Fatalf("setTopic on archived channel: %v", err)
	}
}

func TestServer_PostMessage_RecordsBlocksAndThreadsInTSOrder(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "inc-post")
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*SEV1*", false, false), nil, nil)}

	chID, ts1, err := api.PostMessage("#inc-post", slack.MsgOptionText("hello", false), slack.MsgOptionBlocks(blocks...))
	if err != nil || chID != ch.ID {
		t.Fatalf("post by name: %q, %v", chID, err)
	}
	_, ts2, err := api.PostMessage(ch.ID, slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts1), slack.MsgOptionUsername("Incident Bot"))
	if err != nil {
		t.Fatal(err)
	}
	_, ts3, err := api.PostMessage("inc-post", slack.MsgOptionText("third", false))
	if err != nil {
		t.Fatal(err)
	}
	if !(ts1 < ts2 && ts2 < ts3) {
		t.Fatalf("ts not increasing: %s %s %s", ts1, ts2, ts3)
	}
	msgs := srv.Messages(ch.ID)
	if len(msgs) != 3 || msgs[0].TS != ts1 || msgs[1].TS != ts2 || msgs[2].TS != ts3 {
		t.Fatalf("messages = %+v", msgs)
	}
	if !strings.Contains(msgs[0].Blocks, `"*SEV1*"`) || msgs[0].Text != "hello" || msgs[0].User != "UBOT" {
		t.Fatalf("first message = %+v", msgs[0])
	}
	if msgs[1].ThreadTS != ts1 || msgs[1].Username != "Incident Bot" {
		t.Fatalf("reply = %+v", msgs[1])
	}

	_, _, err = api.PostMessage(ch.ID)
	if got := slackErr(t, err); got != "no_text" {
		t.Fatalf("empty post: %q, want no_text", got)
	}
	_, _, err = api.PostMessage("nowhere", slack.MsgOptionText("x", false))
	if got := slackErr(t, err); got != "channel_not_found" {
		t.Fatalf("unknown channel: %q", got)
	}
	srv.ArchiveChannel(ch.ID)
	_, _, err = api.PostMessage(ch.ID, slack.MsgOptionText("x", false))
	if got := slackErr(t, err); got != "is_archived" {
		t.Fatalf("archived channel: %q", got)
	}
}

func TestServer_UpdateMessage_ChangesTheRecordedMessage(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "inc-update")
	_, ts, err := api.PostMessage(ch.ID, slack.MsgOptionText("status: investigating", false))
	if err != nil {
		t.Fatal(err)
	}
	_, gotTS, text, err := api.UpdateMessage(ch.ID, ts, slack.MsgOptionText("status: resolved", false))
	if err != nil || gotTS != ts || text != "status: resolved" {
		t.Fatalf("update: %q %q %v", gotTS, text, err)
	}
	m := srv.Messages(ch.ID)[0]
	if m.Text != "status: resolved" || len(m.Edited) != 1 || m.Edited[0].Text != "status: resolved" {
		t.Fatalf("message = %+v", m)
	}

	_, _, _, err = api.UpdateMessage(ch.ID, "1.000001", slack.MsgOptionText("x", false))
	if got := slackErr(t, err); got != "message_not_found" {
		t.Fatalf("unknown ts: %q", got)
	}
	human, _ := srv.PostMessageDirect(ch.ID, "UHUMAN", "hi")
	_, _, _, err = api.UpdateMessage(ch.ID, human.TS, slack.MsgOptionText("x", false))
	if got := slackErr(t, err); got != "cant_update_message" {
		t.Fatalf("someone else's message: %q", got)
	}
}

func TestServer_PinAndPermalink_WorkOnPostedMessages(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "inc-pin")
	_, ts, err := api.PostMessage(ch.ID, slack.MsgOptionText("summary", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := api.AddPin(ch.ID, slack.ItemRef{Timestamp: ts}); err != nil {
		t.Fatal(err)
	}
	if err := api.AddPin(ch.ID, slack.ItemRef{Timestamp: ts}); slackErr(t, err) != "already_pinned" {
		t.Fatalf("second pin: %v", err)
	}
	if pins := srv.Pins(ch.ID); len(pins) != 1 || pins[0] != ts {
		t.Fatalf("pins = %v", pins)
	}
	link, err := api.GetPermalink(&slack.PermalinkParameters{Channel: ch.ID, Ts: ts})
	if err != nil || !strings.Contains(link, "/archives/"+ch.ID+"/p"+strings.ReplaceAll(ts, ".", "")) {
		t.Fatalf("permalink %q, %v", link, err)
	}
}

// A thread reply posted with reply_broadcast is also shown in the channel
// (conversations.history lists it, subtype thread_broadcast); without a
// thread_ts the parameter is ignored, as Slack does.
func TestServer_PostMessage_ReplyBroadcast(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "incidents-bc")
	_, parent, err := api.PostMessage(ch.ID, slack.MsgOptionText("INC-1 announced", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessage(ch.ID, slack.MsgOptionText("quiet reply", false), slack.MsgOptionTS(parent)); err != nil {
		t.Fatal(err)
	}
	_, loud, err := api.PostMessage(ch.ID, slack.MsgOptionText("resolved", false), slack.MsgOptionTS(parent), slack.MsgOptionBroadcast())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessage(ch.ID, slack.MsgOptionText("top", false), slack.MsgOptionBroadcast()); err != nil {
		t.Fatal(err)
	}
	var broadcast []string
	for _, m := range srv.Messages(ch.ID) {
		if m.Broadcast {
			broadcast = append(broadcast, m.Text)
		}
	}
	if strings.Join(broadcast, ",") != "resolved" {
		t.Errorf("broadcast messages = %v, want only the reply posted with reply_broadcast", broadcast)
	}
	hist, err := api.GetConversationHistory(&slack.GetConversationHistoryParameters{ChannelID: ch.ID})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range hist.Messages {
		listed = append(listed, m.Text)
		if m.Timestamp == loud && m.SubType != "thread_broadcast" {
			t.Errorf("broadcast reply subtype = %q", m.SubType)
		}
	}
	if strings.Join(listed, ",") != "top,resolved,INC-1 announced" {
		t.Errorf("history = %v, want the broadcast reply in the channel and not the quiet one", listed)
	}
}

// conversations.rename follows Slack: names taken by any channel
// (archived ones too) are name_taken, the naming rules apply, only the
// creator may rename (not_authorized), and the bot must be in the channel.
func TestServer_ConversationsRename_LikeSlack(t *testing.T) {
	srv, api := newClient(t)
	ctx := context.Background()
	ch := create(t, api, "inc-7-db-slow")
	srv.CreateChannelDirect("inc-7-db-down", "UHUMAN", true) // archived, still taken
	other := srv.CreateChannelDirect("general", "UHUMAN", false)
	srv.AddMember(other.ID, srv.BotUserID)
	for name, tc := range map[string]struct{ channel, name, want string }{
		"taken by an archived channel": {ch.ID, "inc-7-db-down", "name_taken"},
		"capitals":                     {ch.ID, "INC-7", "invalid_name_specials"},
		"empty":                        {ch.ID, "", "invalid_name_required"},
		"only punctuation":             {ch.ID, "--", "invalid_name_punctuation"},
		"too long":                     {ch.ID, strings.Repeat("a", 81), "invalid_name_maxlength"},
		"not the creator":              {other.ID, "general-2", "not_authorized"},
		"unknown channel":              {"C9999999", "x", "channel_not_found"},
	} {
		if _, err := api.RenameConversationContext(ctx, tc.channel, tc.name); slackErr(t, err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
	got, err := api.RenameConversationContext(ctx, ch.ID, "inc-7-primary-db-down")
	if err != nil || got.ID != ch.ID || got.Name != "inc-7-primary-db-down" {
		t.Fatalf("rename = %+v, %v", got, err)
	}
	if c, _ := srv.Channel(ch.ID); c.Name != "inc-7-primary-db-down" {
		t.Errorf("stored name = %q", c.Name)
	}
	if _, err := api.RenameConversationContext(ctx, ch.ID, "inc-7-primary-db-down"); err != nil {
		t.Errorf("renaming to its own name: %v", err)
	}
	if _, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-7-primary-db-down"}); slackErr(t, err) != "name_taken" {
		t.Errorf("the new name is not taken: %v", err)
	}
}

func TestServer_Users_AreFoundByEmailAndID(t *testing.T) {
	srv, api := newClient(t)
	srv.AddUser("U1", "alice", "alice@example.com")
	u, err := api.GetUserByEmail("Alice@example.com")
	if err != nil || u.ID != "U1" || u.Profile.Email != "alice@example.com" {
		t.Fatalf("lookup: %+v, %v", u, err)
	}
	_, err = api.GetUserByEmail("nobody@example.com")
	if got := slackErr(t, err); got != "users_not_found" {
		t.Fatalf("unknown email: %q", got)
	}
	_, err = api.GetUserInfo("UNOBODY")
	if got := slackErr(t, err); got != "user_not_found" {
		t.Fatalf("unknown id: %q", got)
	}
}

func TestServer_RateLimitFault_IsRateLimitedErrorWithRetryAfter(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("conversations.create", slackfake.Fault{Times: 1, Status: http.StatusTooManyRequests, RetryAfter: 7})
	_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: "inc-rl"})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Fatalf("error %v (%T), want RateLimitedError of 7s", err, err)
	}
	if len(srv.Channels()) != 0 {
		t.Fatal("a rate-limited create made a channel")
	}
	create(t, api, "inc-rl") // the fault was used up
	calls := srv.CallsTo("conversations.create")
	if len(calls) != 2 || calls[0].Status != 429 || calls[0].Error != "ratelimited" || !calls[0].Injected || !calls[1].OK {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestServer_ServiceUnavailableFault_IsStatusCodeError(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("chat.postMessage", slackfake.Fault{Status: http.StatusServiceUnavailable})
	create(t, api, "inc-503")
	for range 2 {
		_, _, err := api.PostMessage("inc-503", slack.MsgOptionText("x", false))
		var sc slack.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != 503 {
			t.Fatalf("error %v (%T), want StatusCodeError 503", err, err)
		}
	}
	srv.ClearFaults()
	if _, _, err := api.PostMessage("inc-503", slack.MsgOptionText("x", false)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages(srv.Channels()[0].ID)); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestServer_Faults_AreUsedInOrder(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("auth.test", slackfake.Fault{Times: 1, Error: "fatal_error"})
	srv.Inject("auth.test", slackfake.Fault{Times: 2, Status: 500})
	var got []string
	for range 4 {
		_, err := api.AuthTest()
		got = append(got, fmt.Sprint(err))
	}
	want := []string{"fatal_error", "slack server error: 500 Internal Server Error", "slack server error: 500 Internal Server Error", "<nil>"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("errors = %q, want %q", got, want)
	}
}

// A fault for "" matches every method: an outage answers 503 to each call
// without performing it, until ClearFaults; a fault of one method injected
// after it waits behind it (the oldest matching fault applies).
func TestServer_FaultForEveryMethod_IsAnOutageUntilCleared(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("", slackfake.Fault{Status: http.StatusServiceUnavailable})
	srv.Inject("auth.test", slackfake.Fault{Times: 1, Error: "fatal_error"})
	for name, call := range map[string]func() error{
		"auth.test": func() error { _, err := api.AuthTest(); return err },
		"conversations.create": func() error {
			_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: "inc-outage"})
			return err
		},
		"chat.postMessage": func() error { _, _, err := api.PostMessage("C1", slack.MsgOptionText("hi", false)); return err },
	} {
		var sc slack.StatusCodeError
		if err := call(); !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %v (%T), want StatusCodeError 503", name, err, err)
		}
	}
	if _, found := srv.ChannelByName("inc-outage"); found {
		t.Error("a call answered 503 by the outage was performed")
	}
	for _, c := range srv.Calls() {
		if c.Status != http.StatusServiceUnavailable || !c.Injected {
			t.Errorf("logged %s: status %d, injected %v; want 503, injected", c.Method, c.Status, c.Injected)
		}
	}
	srv.ClearFaults()
	if _, err := api.AuthTest(); err != nil {
		t.Errorf("auth.test after the outage: %v (ClearFaults removes the fault behind it too)", err)
	}
	create(t, api, "inc-outage")
}

func TestServer_AfterEffectFault_CreatesTheChannelThoughTheClientSeesAnError(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("conversations.create", slackfake.Fault{Times: 1, Status: 503, AfterEffect: true})
	_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: "inc-lost"})
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) {
		t.Fatalf("error %v (%T), want StatusCodeError", err, err)
	}
	if _, found := srv.ChannelByName("inc-lost"); !found {
		t.Fatal("the channel was not created")
	}
	_, err = api.CreateConversation(slack.CreateConversationParams{ChannelName: "inc-lost"})
	if got := slackErr(t, err); got != "name_taken" {
		t.Fatalf("retry: %q, want name_taken", got)
	}
}

// Hangup closes the connection: before the effect nothing happens, after it
// (AfterEffect) the channel exists though the client got no answer.
func TestServer_HangupFault_IsATransportError(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("conversations.create", slackfake.Fault{Times: 1, Hangup: true})
	srv.Inject("conversations.create", slackfake.Fault{Times: 1, Hangup: true, AfterEffect: true})
	for _, name := range []string{"inc-hung-before", "inc-hung-after"} {
		_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: name})
		var se slack.SlackErrorResponse
		var sc slack.StatusCodeError
		if err == nil || errors.As(err, &se) || errors.As(err, &sc) {
			t.Fatalf("%s: error %v (%T), want a transport error", name, err, err)
		}
	}
	if _, found := srv.ChannelByName("inc-hung-before"); found {
		t.Error("a hang-up before the effect created the channel")
	}
	if _, found := srv.ChannelByName("inc-hung-after"); !found {
		t.Error("a hang-up after the effect did not create the channel")
	}
	calls := srv.CallsTo("conversations.create")
	if len(calls) != 2 || calls[0].Status != 0 || calls[0].Error != "hangup" || !calls[0].Injected || calls[1].Error != "hangup" {
		t.Fatalf("calls = %+v, want two hang-ups", calls)
	}
	create(t, api, "inc-after-the-faults")
}

// Reset forgets the call log, the faults and the chaos; the workspace stays.
func TestServer_Reset_ForgetsCallsFaultsAndChaosKeepsData(t *testing.T) {
	srv, api := newClient(t)
	srv.AddUser("U1", "alice", "alice@example.com")
	ch := create(t, api, "inc-kept")
	post(t, api, ch.ID, slack.MsgOptionText("kept", false))
	srv.Inject("chat.postMessage", slackfake.Fault{Status: http.StatusServiceUnavailable})
	srv.SetChaos(slackfake.Chaos{Rate5xx: 1, Seed: 1})
	srv.Reset()
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("%d calls after Reset, want none", n)
	}
	post(t, api, ch.ID, slack.MsgOptionText("after", false)) // neither the fault nor the chaos
	if _, err := api.AuthTest(); err != nil {
		t.Fatalf("auth.test after Reset: %v", err)
	}
	if msgs := srv.Messages(ch.ID); len(msgs) != 2 || msgs[0].Text != "kept" {
		t.Errorf("messages after Reset = %+v, want kept and after", msgs)
	}
	if u, err := api.GetUserByEmail("alice@example.com"); err != nil || u.ID != "U1" {
		t.Errorf("user after Reset: %+v, %v", u, err)
	}
	if calls := srv.Calls(); len(calls) != 3 || calls[0].Injected {
		t.Errorf("calls after Reset = %+v, want three, none injected", calls)
	}
}

func TestServer_DelayFault_RespectsTheClientContextTimeout(t *testing.T) {
	srv, api := newClient(t)
	srv.Inject("conversations.create", slackfake.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-slow"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the client waited for the whole delay")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.CallsTo("conversations.create")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	calls := srv.CallsTo("conversations.create")
	if len(calls) != 1 || calls[0].Status != 0 || calls[0].Error == "" {
		t.Fatalf("calls = %+v", calls)
	}
	if len(srv.Channels()) != 0 {
		t.Fatal("an abandoned create made a channel")
	}
}

func TestServer_OnCall_SeesTheEffectBeforeTheAnswer(t *testing.T) {
	srv, api := newClient(t)
	var mu sync.Mutex
	var phases []string
	srv.OnCall(func(method, phase string) {
		if method != "conversations.create" {
			return
		}
		_, exists := srv.ChannelByName("inc-hook")
		mu.Lock()
		defer mu.Unlock()
		phases = append(phases, fmt.Sprintf("%s:%v", phase, exists))
	})
	create(t, api, "inc-hook")
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(phases, ",") != "before:false,after-effect:true" {
		t.Fatalf("phases = %v", phases)
	}
}

func TestServer_Chaos_IsRepeatableForASeed(t *testing.T) {
	run := func() string {
		srv := slackfake.New()
		defer srv.Close()
		srv.SetChaos(slackfake.Chaos{Rate429: 0.3, RetryAfter: 1, Rate5xx: 0.2, Seed: 42})
		api := slack.New(slackfake.DefaultToken, slack.OptionAPIURL(srv.URL()))
		var out strings.Builder
		for range 30 {
			_, err := api.AuthTest()
			var rl *slack.RateLimitedError
			var sc slack.StatusCodeError
			switch {
			case err == nil:
				out.WriteByte('.')
			case errors.As(err, &rl):
				out.WriteByte('R')
			case errors.As(err, &sc):
				out.WriteByte('5')
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		return out.String()
	}
	a, b := run(), run()
	if a != b || !strings.Contains(a, "R") || !strings.Contains(a, "5") || !strings.Contains(a, ".") {
		t.Fatalf("runs %q and %q", a, b)
	}
}

func TestServer_ConcurrentCreates_GetDistinctChannels(t *testing.T) {
	srv, api := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			_, err := api.CreateConversation(slack.CreateConversationParams{ChannelName: fmt.Sprintf("inc-%d", i%20)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	taken := 0
	for err := range errs {
		if err != nil {
			if slackErr(t, err) != "name_taken" {
				t.Fatal(err)
			}
			taken++
		}
	}
	if taken != 20 || len(srv.Channels()) != 20 || len(srv.Calls()) != 40 {
		t.Fatalf("%d name_taken, %d channels, %d calls", taken, len(srv.Channels()), len(srv.Calls()))
	}
}

func TestServer_Handle_AddsAnExtraMethod(t *testing.T) {
	srv, api := newClient(t)
	srv.Handle("conversations.leave", func(p url.Values) (map[string]any, string) {
		if p.Get("channel") == "" {
			return nil, "channel_not_found"
		}
		return map[string]any{"not_in_channel": true}, ""
	})
	notIn, err := api.LeaveConversation("C0000001")
	if err != nil || !notIn {
		t.Fatalf("leave: %v, %v", notIn, err)
	}
	if calls := srv.CallsTo("conversations.leave"); len(calls) != 1 || calls[0].Params.Get("channel") != "C0000001" {
		t.Fatalf("calls = %+v", calls)
	}
}

// clock is a settable server clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func modal(title string) slack.ModalViewRequest {
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject("plain_text", title, false, false),
		Submit:          slack.NewTextBlockObject("plain_text", "Declare", false, false),
		CallbackID:      "declare_incident",
		PrivateMetadata: "C0000001",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("title", slack.NewTextBlockObject("plain_text", "Title", false, false), nil,
				slack.NewPlainTextInputBlockElement(nil, "title_input")),
		}},
	}
}

func TestServer_OpenView_ExchangesAnIssuedTriggerOnce(t *testing.T) {
	srv, api := newClient(t)
	clk := newClock()
	srv.Now = clk.Now
	ctx := context.Background()

	trigger := srv.NewTriggerID()
	resp, err := api.OpenViewContext(ctx, trigger, modal("Declare an incident"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.View.ID, "V") || resp.View.CallbackID != "declare_incident" ||
		resp.View.PrivateMetadata != "C0000001" || resp.View.TeamID != "T0001" || resp.View.Type != slack.VTModal ||
		resp.View.Title == nil || resp.View.Title.Text != "Declare an incident" || len(resp.View.Blocks.BlockSet) != 1 {
		t.Fatalf("view = %+v", resp.View)
	}
	views := srv.Views()
	if len(views) != 1 || views[0].ID != resp.View.ID || views[0].TriggerID != trigger ||
		views[0].CallbackID != "declare_incident" || !views[0].At.Equal(clk.Now()) {
		t.Fatalf("views = %+v", views)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(views[0].JSON), &sent); err != nil || sent["callback_id"] != "declare_incident" {
		t.Fatalf("recorded JSON %q: %v", views[0].JSON, err)
	}
	if call := srv.CallsTo("views.open")[0]; call.Token != slackfake.DefaultToken || call.Params.Get("trigger_id") != trigger {
		t.Fatalf("call = %+v", call)
	}

	_, err = api.OpenViewContext(ctx, trigger, modal("Again"))
	if got := slackErr(t, err); got != "exchanged_trigger_id" {
		t.Fatalf("second use: %q, want exchanged_trigger_id", got)
	}
	_, err = api.OpenViewContext(ctx, "12345.98765.abcd2358fdea", modal("Unknown"))
	if got := slackErr(t, err); got != "invalid_trigger_id" {
		t.Fatalf("unknown trigger: %q, want invalid_trigger_id", got)
	}
	late := srv.NewTriggerID()
	clk.Add(2900 * time.Millisecond)
	if _, err := api.OpenViewContext(ctx, srv.NewTriggerID(), modal("Fresh")); err != nil {
		t.Fatal(err)
	}
	clk.Add(100 * time.Millisecond)
	_, err = api.OpenViewContext(ctx, late, modal("Late"))
	if got := slackErr(t, err); got != "expired_trigger_id" {
		t.Fatalf("trigger after 3s: %q, want expired_trigger_id", got)
	}
	if n := len(srv.Views()); n != 2 {
		t.Fatalf("%d views, want 2", n)
	}
}

func TestServer_OpenView_RejectsMalformedViews(t *testing.T) {
	srv, api := newClient(t)
	ctx := context.Background()
	noSubmit := modal("Declare")
	noSubmit.Submit = nil
	home := modal("Declare")
	home.Type = slack.VTHomeTab
	noTitle := modal("Declare")
	noTitle.Title = nil
	bigMetadata := modal("Declare")
	bigMetadata.PrivateMetadata = strings.Repeat("m", 3001)
	for name, view := range map[string]slack.ModalViewRequest{
		"long title":                   modal(strings.Repeat("x", 25)),
		"home tab":                     home,
		"no title":                     noTitle,
		"input blocks without submit":  noSubmit,
		"private_metadata over 3000ch": bigMetadata,
	} {
		trigger := srv.NewTriggerID()
		resp, err := api.OpenViewContext(ctx, trigger, view)
		if got := slackErr(t, err); got != "invalid_arguments" {
			t.Errorf("%s: error %q, want invalid_arguments", name, got)
			continue
		}
		if len(resp.ResponseMetadata.Messages) == 0 {
			t.Errorf("%s: no response_metadata.messages", name)
		}
		// A refused view does not use the trigger up.
		if _, err := api.OpenViewContext(ctx, trigger, modal("Declare")); err != nil {
			t.Errorf("%s: valid view with the same trigger: %v", name, err)
		}
	}

	// Form-encoded, as older clients send it, and without trigger_id.
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"trigger_id": {srv.NewTriggerID()}, "view": {"{not json"}}, "invalid_arguments"},
		{url.Values{"view": {`{"type":"modal","title":{"type":"plain_text","text":"x"},"blocks":[]}`}}, "invalid_arguments"},
		{url.Values{"trigger_id": {srv.NewTriggerID()}}, "invalid_arguments"},
		{url.Values{"trigger_id": {srv.NewTriggerID()}, "view": {`{"type":"modal","title":{"type":"plain_text","text":"Form"},"blocks":[]}`}}, ""},
	} {
		tc.form.Set("token", slackfake.DefaultToken)
		resp, err := http.PostForm(srv.URL()+"views.open", tc.form)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("form %v: %v", tc.form, err)
		}
		if body.Error != tc.want || body.OK != (tc.want == "") {
			t.Errorf("form %v: %+v, want error %q", tc.form, body, tc.want)
		}
	}
	if n := len(srv.Views()); n != 6 {
		t.Fatalf("%d views, want 6", n)
	}
}

func TestServer_UserGroupMembers_ListsTheGroup(t *testing.T) {
	srv, api := newClient(t)
	srv.AddUserGroup("S0001", "U1", "U2")
	users, err := api.GetUserGroupMembersContext(context.Background(), "S0001")
	if err != nil || strings.Join(users, ",") != "U1,U2" {
		t.Fatalf("members = %v, %v", users, err)
	}
	srv.AddUserGroup("S0001")
	users, err = api.GetUserGroupMembersContext(context.Background(), "S0001")
	if err != nil || users == nil || len(users) != 0 {
		t.Fatalf("emptied group: %#v, %v", users, err)
	}
	_, err = api.GetUserGroupMembersContext(context.Background(), "S9999")
	if got := slackErr(t, err); got != "no_such_subteam" {
		t.Fatalf("unknown group: %q, want no_such_subteam", got)
	}
}

func TestServer_ConversationHistory_FetchesOneMessageByTS(t *testing.T) {
	srv, api := newClient(t)
	ctx := context.Background()
	ch := create(t, api, "inc-history")
	ts1 := post(t, api, ch.ID, slack.MsgOptionText("one", false))
	human, ok := srv.PostMessageDirect(ch.ID, "UHUMAN", "two")
	if !ok {
		t.Fatal("PostMessageDirect: no such channel")
	}
	reply := post(t, api, ch.ID, slack.MsgOptionText("in thread", false), slack.MsgOptionTS(ts1))
	ts3 := post(t, api, ch.ID, slack.MsgOptionText("three", false))
	if err := api.AddPin(ch.ID, slack.ItemRef{Timestamp: human.TS}); err != nil {
		t.Fatal(err)
	}

	got, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
		ChannelID: ch.ID, Latest: human.TS, Inclusive: true, Limit: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 || got.Messages[0].Timestamp != human.TS || got.Messages[0].Text != "two" ||
		got.Messages[0].User != "UHUMAN" || len(got.Messages[0].PinnedTo) != 1 || !got.HasMore || got.PinCount != 1 {
		t.Fatalf("by ts: %+v", got)
	}

	got, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID, Latest: human.TS, Limit: 1})
	if err != nil || len(got.Messages) != 1 || got.Messages[0].Timestamp != ts1 {
		t.Fatalf("exclusive latest: %+v, %v", got, err)
	}
	if got.Messages[0].ReplyCount != 1 || got.Messages[0].LatestReply != reply || got.Messages[0].ThreadTimestamp != ts1 {
		t.Fatalf("thread summary: %+v", got.Messages[0].Msg)
	}

	got, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID})
	var texts []string
	for _, m := range got.Messages {
		texts = append(texts, m.Text)
	}
	if err != nil || strings.Join(texts, ",") != "three,two,one" || got.HasMore {
		t.Fatalf("all (replies excluded, newest first): %v, %+v, %v", texts, got, err)
	}

	got, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID, Oldest: ts1, Latest: ts3})
	if err != nil || len(got.Messages) != 1 || got.Messages[0].Timestamp != human.TS {
		t.Fatalf("open window: %+v, %v", got, err)
	}

	var paged []string
	cursor := ""
	for {
		page, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			paged = append(paged, m.Text)
		}
		if !page.HasMore {
			break
		}
		cursor = page.ResponseMetaData.NextCursor
	}
	if strings.Join(paged, ",") != "three,two,one" {
		t.Fatalf("paged = %v", paged)
	}

	_, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID, Latest: "yesterday"})
	if got := slackErr(t, err); got != "invalid_ts_latest" {
		t.Fatalf("bad latest: %q", got)
	}
	other := srv.CreateChannelDirect("not-mine", "UHUMAN", false)
	_, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: other.ID})
	if got := slackErr(t, err); got != "not_in_channel" {
		t.Fatalf("channel without the bot: %q, want not_in_channel", got)
	}
	_, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C9999999"})
	if got := slackErr(t, err); got != "channel_not_found" {
		t.Fatalf("unknown channel: %q", got)
	}
}

func TestServer_ConversationReplies_ListsTheThread(t *testing.T) {
	srv, api := newClient(t)
	ctx := context.Background()
	ch := create(t, api, "inc-thread")
	root := post(t, api, ch.ID, slack.MsgOptionText("root", false))
	r1 := post(t, api, ch.ID, slack.MsgOptionText("r1", false), slack.MsgOptionTS(root))
	post(t, api, ch.ID, slack.MsgOptionText("elsewhere", false))
	post(t, api, ch.ID, slack.MsgOptionText("r2", false), slack.MsgOptionTS(root))

	for _, ts := range []string{root, r1} {
		msgs, more, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch.ID, Timestamp: ts})
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m.Text)
		}
		if err != nil || more || strings.Join(texts, ",") != "root,r1,r2" {
			t.Fatalf("replies of %s: %v, %v, %v", ts, texts, more, err)
		}
		if msgs[0].ReplyCount != 2 || msgs[1].ThreadTimestamp != root || msgs[1].ParentUserId != "UBOT" {
			t.Fatalf("thread fields: %+v / %+v", msgs[0].Msg, msgs[1].Msg)
		}
	}
	msgs, more, next, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch.ID, Timestamp: root, Limit: 2})
	if err != nil || len(msgs) != 2 || !more || next == "" {
		t.Fatalf("first page: %d msgs, more %v, next %q, %v", len(msgs), more, next, err)
	}
	msgs, more, _, err = api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch.ID, Timestamp: root, Limit: 2, Cursor: next})
	if err != nil || len(msgs) != 1 || more || msgs[0].Text != "r2" {
		t.Fatalf("second page: %+v, more %v, %v", msgs, more, err)
	}
	_, _, _, err = api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: ch.ID, Timestamp: "1.000001"})
	if got := slackErr(t, err); got != "thread_not_found" {
		t.Fatalf("unknown thread: %q", got)
	}
	if srv.Messages(ch.ID)[1].ThreadTS != root {
		t.Fatal("reply not recorded in the thread")
	}
}

func TestServer_Permalink_IsStableAndSlackShaped(t *testing.T) {
	_, api := newClient(t)
	ch := create(t, api, "inc-link")
	_, ts, err := api.PostMessage(ch.ID, slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatal(err)
	}
	want := "https://" + slackfake.DefaultTeamDomain + ".slack.com/archives/" + ch.ID + "/p" + strings.ReplaceAll(ts, ".", "")
	for range 2 {
		link, err := api.GetPermalinkContext(context.Background(), &slack.PermalinkParameters{Channel: ch.ID, Ts: ts})
		if err != nil || link != want {
			t.Fatalf("permalink %q, %v; want %q", link, err, want)
		}
	}
}

func TestServer_UserInfo_ReportsProfileEmailNameAndTZ(t *testing.T) {
	srv, api := newClient(t)
	ctx := context.Background()
	srv.AddUser("U1", "alice", "alice@example.com")
	srv.PutUser(slackfake.User{ID: "U2", Name: "bob", RealName: "Bob Builder", Email: "bob@example.com", TZ: "Europe/Paris"})
	srv.PutUser(slackfake.User{ID: "U3", Name: "pagerbot", IsBot: true})

	u, err := api.GetUserInfoContext(ctx, "U2")
	if err != nil || u.ID != "U2" || u.Name != "bob" || u.RealName != "Bob Builder" || u.Profile.Email != "bob@example.com" ||
		u.Profile.RealName != "Bob Builder" || u.TZ != "Europe/Paris" || u.IsBot {
		t.Fatalf("U2 = %+v, %v", u, err)
	}
	u, err = api.GetUserInfoContext(ctx, "U1")
	if err != nil || u.Name != "alice" || u.RealName != "alice" || u.Profile.Email != "alice@example.com" || u.TZ != slackfake.DefaultUserTZ {
		t.Fatalf("U1 = %+v, %v", u, err)
	}
	for _, id := range []string{"U3", "UBOT"} {
		u, err = api.GetUserInfoContext(ctx, id)
		if err != nil || !u.IsBot {
			t.Fatalf("%s = %+v, %v", id, u, err)
		}
	}
	_, err = api.GetUserInfoContext(ctx, "UNOBODY")
	if got := slackErr(t, err); got != "user_not_found" {
		t.Fatalf("unknown user: %q", got)
	}
}

// postRaw posts body to u and returns the status and body of the answer.
func postRaw(t *testing.T, u, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServer_ResponseURL_AcceptsFiveMessagesLikeSlack(t *testing.T) {
	srv, _ := newClient(t)
	clk := newClock()
	srv.Now = clk.Now
	ctx := context.Background()

	u := srv.NewResponseURL()
	if !strings.HasPrefix(u, strings.TrimSuffix(srv.URL(), "api/")+"response/") {
		t.Fatalf("response URL %q, API URL %q", u, srv.URL())
	}
	blocks := slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*ack*", false, false), nil, nil)}}
	if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "Declared", ResponseType: "in_channel", Blocks: &blocks}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: fmt.Sprint("update ", i), ReplaceOriginal: true}); err != nil {
			t.Fatalf("message %d: %v", i+2, err)
		}
	}
	err := slack.PostWebhookContext(ctx, u, &slack.WebhookMessage{Text: "sixth"})
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Fatalf("sixth message: %v (%T), want StatusCodeError 404", err, err)
	}
	if status, body := postRaw(t, u, `{"text":"seventh"}`); status != 404 || body != "used_url" {
		t.Fatalf("seventh: %d %q", status, body)
	}

	got := srv.Responses(u)
	if len(got) != 5 {
		t.Fatalf("%d responses, want 5", len(got))
	}
	first := got[0]
	if first.URL != u || first.Text != "Declared" || first.ResponseType != "in_channel" || first.ReplaceOriginal ||
		!strings.Contains(first.Blocks, `"*ack*"`) || !strings.Contains(first.Body, `"response_type":"in_channel"`) || !first.At.Equal(clk.Now()) {
		t.Fatalf("first response = %+v", first)
	}
	if got[1].ResponseType != "ephemeral" || !got[1].ReplaceOriginal || got[1].Text != "update 0" {
		t.Fatalf("second response = %+v", got[1])
	}

	other := srv.NewResponseURL()
	if status, body := postRaw(t, other, `{"delete_original":"true"}`); status != 200 || body != "ok" {
		t.Fatalf("delete_original: %d %q", status, body)
	}
	if status, body := postRaw(t, other, `{}`); status != 400 || body != "no_text" {
		t.Fatalf("empty message: %d %q", status, body)
	}
	if status, body := postRaw(t, other, `not json`); status != 400 || body != "invalid_payload" {
		t.Fatalf("not JSON: %d %q", status, body)
	}
	if all := srv.AllResponses(); len(all) != 6 || !all[5].DeleteOriginal || len(srv.Responses(other)) != 1 {
		t.Fatalf("all responses = %+v", all)
	}
	clk.Add(30 * time.Minute)
	if status, body := postRaw(t, other, `{"text":"late"}`); status != 404 || body != "expired_url" {
		t.Fatalf("after 30 minutes: %d %q", status, body)
	}
	if status, body := postRaw(t, strings.TrimSuffix(srv.URL(), "api/")+"response/nope", `{"text":"x"}`); status != 404 || body != "invalid_url" {
		t.Fatalf("unknown URL: %d %q", status, body)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("response URLs logged %d API calls", n)
	}
}

func TestServer_UploadFile_SharesTheContentInTheChannel(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "inc-upload")
	ctx := context.Background()
	content := "timeline\n12:00 paged\n"
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Content: content, FileSize: len(content), Filename: "timeline.txt",
		Title: "Timeline", InitialComment: "Here is the timeline", Channel: ch.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sum.ID, "F") || sum.Title != "Timeline" {
		t.Fatalf("summary = %+v", sum)
	}
	files := srv.Files()
	if len(files) != 1 {
		t.Fatalf("files = %+v", files)
	}
	f := files[0]
	if f.ID != sum.ID || f.Name != "timeline.txt" || f.Title != "Timeline" || f.Channel != ch.ID ||
		f.InitialComment != "Here is the timeline" || string(f.Content) != content || f.At.IsZero() {
		t.Fatalf("file = %+v", f)
	}
	if in := srv.FilesIn(ch.ID); len(in) != 1 || in[0].ID != sum.ID {
		t.Fatalf("FilesIn = %+v", in)
	}
	if in := srv.FilesIn("C9999999"); len(in) != 0 {
		t.Fatalf("FilesIn(other) = %+v", in)
	}
	msgs := srv.Messages(ch.ID)
	if len(msgs) != 1 || msgs[0].User != "UBOT" || msgs[0].Text != "Here is the timeline" ||
		len(msgs[0].Files) != 1 || msgs[0].Files[0] != sum.ID {
		t.Fatalf("messages = %+v", msgs)
	}
	hist, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Messages) != 1 || len(hist.Messages[0].Files) != 1 ||
		hist.Messages[0].Files[0].ID != sum.ID || hist.Messages[0].Files[0].Name != "timeline.txt" ||
		hist.Messages[0].Files[0].Size != len(content) {
		t.Fatalf("history = %+v", hist.Messages)
	}
	get := srv.CallsTo("files.getUploadURLExternal")
	done := srv.CallsTo("files.completeUploadExternal")
	if len(get) != 1 || get[0].Params.Get("filename") != "timeline.txt" || get[0].Params.Get("length") != fmt.Sprint(len(content)) ||
		len(done) != 1 || !done[0].OK || done[0].Params.Get("channel_id") != ch.ID {
		t.Fatalf("calls = %+v / %+v", get, done)
	}

	// A reply in a thread, and a file completed without a channel.
	root := msgs[0].TS
	if _, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Content: "x", FileSize: 1, Filename: "x.log", Channel: ch.ID, ThreadTimestamp: root,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Content: "y", FileSize: 1, Filename: "y.log"}); err != nil {
		t.Fatal(err)
	}
	files = srv.Files()
	if len(files) != 3 || files[1].ThreadTS != root || files[1].Title != "x.log" || files[2].Channel != "" {
		t.Fatalf("files = %+v", files)
	}
	if msgs := srv.Messages(ch.ID); len(msgs) != 2 || msgs[1].ThreadTS != root {
		t.Fatalf("messages = %+v", msgs)
	}
}

// files.info answers a shared file with its permalink, and file_not_found
// for an ID never handed out or not completed yet.
func TestServer_FilesInfo_GivesThePermalink(t *testing.T) {
	_, api := newClient(t)
	ch := create(t, api, "inc-info")
	ctx := context.Background()
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Content: "# Draft", FileSize: 7, Filename: "draft.md", Channel: ch.ID})
	if err != nil {
		t.Fatal(err)
	}
	f, _, _, err := api.GetFileInfoContext(ctx, sum.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != sum.ID || f.Name != "draft.md" || !strings.HasPrefix(f.Permalink, "https://") || !strings.Contains(f.Permalink, sum.ID) {
		t.Errorf("files.info = %+v", f)
	}
	if _, _, _, err := api.GetFileInfoContext(ctx, "F9999999999", 0, 0); slackErr(t, err) != "file_not_found" {
		t.Errorf("unknown file: %v", err)
	}
	pending, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "x.md", FileSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.GetFileInfoContext(ctx, pending.FileID, 0, 0); slackErr(t, err) != "file_not_found" {
		t.Errorf("file not completed: %v", err)
	}
}

func TestServer_UploadFile_ChecksTheChannelLikeSlack(t *testing.T) {
	srv, api := newClient(t)
	ctx := context.Background()
	upload := func(channel string) error {
		_, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
			Content: "abc", FileSize: 3, Filename: "a.txt", Channel: channel,
		})
		return err
	}
	if got := slackErr(t, upload("C9999999")); got != "channel_not_found" {
		t.Fatalf("unknown channel: %q", got)
	}
	other := srv.CreateChannelDirect("inc-other", "U0001", false)
	if got := slackErr(t, upload(other.ID)); got != "not_in_channel" {
		t.Fatalf("channel without the bot: %q", got)
	}
	archived := create(t, api, "inc-archived")
	srv.ArchiveChannel(archived.ID)
	if got := slackErr(t, upload(archived.ID)); got != "is_archived" {
		t.Fatalf("archived channel: %q", got)
	}
	if files := srv.Files(); len(files) != 0 {
		t.Fatalf("files = %+v", files)
	}
	if n := len(srv.Messages(other.ID)); n != 0 {
		t.Fatalf("%d messages in the channel without the bot", n)
	}
}

func TestServer_UploadFile_RateLimitedCompletion(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "inc-upload-rl")
	srv.Inject("files.completeUploadExternal", slackfake.Fault{Times: 1, Status: http.StatusTooManyRequests, RetryAfter: 3})
	_, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{
		Content: "abc", FileSize: 3, Filename: "a.txt", Channel: ch.ID,
	})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Fatalf("error %v (%T), want RateLimitedError of 3s", err, err)
	}
	if len(srv.Files()) != 0 || len(srv.Messages(ch.ID)) != 0 {
		t.Fatal("a rate-limited completion shared the file")
	}
	calls := srv.CallsTo("files.completeUploadExternal")
	if len(calls) != 1 || calls[0].Status != 429 || !calls[0].Injected {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestServer_UploadFlow_StepByStep(t *testing.T) {
	srv, api := newClient(t)
	ch := create(t, api, "inc-steps")
	ctx := context.Background()

	call := func(method string, form url.Values) map[string]any {
		t.Helper()
		form.Set("token", slackfake.DefaultToken)
		resp, err := http.PostForm(srv.URL()+method, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return body
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"length": {"3"}}, "invalid_arguments"},
		{url.Values{"filename": {"a.txt"}}, "invalid_arguments"},
		{url.Values{"filename": {"a.txt"}, "length": {"abc"}}, "invalid_arguments"},
		{url.Values{"filename": {"a.txt"}, "length": {"0"}}, "missing_argument"},
	} {
		if body := call("files.getUploadURLExternal", tc.form); body["ok"] != false || body["error"] != tc.want {
			t.Fatalf("%v: %v, want %s", tc.form, body, tc.want)
		}
	}

	u, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "raw.bin", FileSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.UploadURL, strings.TrimSuffix(srv.URL(), "api/")+"upload/") || !strings.HasPrefix(u.FileID, "F") {
		t.Fatalf("upload = %+v", u)
	}
	complete := func() error {
		_, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
			Files: []slack.FileSummary{{ID: u.FileID}}, Channel: ch.ID,
		})
		return err
	}
	if got := slackErr(t, complete()); got != "file_not_found" {
		t.Fatalf("completion before the upload: %q", got)
	}

	post := func(target, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(target, "application/octet-stream", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if status, _ := post(strings.TrimSuffix(srv.URL(), "api/")+"upload/nosuchupload", "x"); status != http.StatusNotFound {
		t.Fatalf("unknown upload URL: %d", status)
	}
	if status, body := post(u.UploadURL, "rawbytes"); status != http.StatusOK || body != "OK - 4" {
		t.Fatalf("raw upload: %d %q", status, body)
	}
	if err := complete(); err != nil {
		t.Fatal(err)
	}
	if files := srv.FilesIn(ch.ID); len(files) != 1 || string(files[0].Content) != "rawb" || files[0].Title != "raw.bin" {
		t.Fatalf("files = %+v", files)
	}
	if got := slackErr(t, complete()); got != "file_not_found" {
		t.Fatalf("second completion: %q", got)
	}
	if status, _ := post(u.UploadURL, "more"); status != http.StatusNotFound {
		t.Fatalf("upload after completion: %d", status)
	}

	srv.Inject("files.getUploadURLExternal", slackfake.Fault{Times: 1, Error: "file_uploads_disabled"})
	_, err = api.UploadFileContext(ctx, slack.UploadFileParameters{Content: "a", FileSize: 1, Filename: "a.txt", Channel: ch.ID})
	if got := slackErr(t, err); got != "file_uploads_disabled" {
		t.Fatalf("injected error: %q", got)
	}
}

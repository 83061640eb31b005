package slackfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack's external file upload flow, as slack-go's UploadFileContext uses it:
//
//  1. files.getUploadURLExternal (filename, length) answers an upload_url
//     and a file_id;
//  2. the file's bytes are POSTed to the upload URL (slack-go sends a
//     multipart form with a "file" part; raw bytes are accepted too);
//  3. files.completeUploadExternal (files=[{"id","title"}], channel_id or
//     channels, initial_comment, blocks, thread_ts) shares the file.

const uploadPath = "/upload/"

// Limits of the upload methods, as Slack documents them.
const (
	maxAltTxt        = 1000
	maxSnippetLen    = 1 << 20
	maxShareChannels = 100
)

// File is a file uploaded through the external upload flow and completed
// with files.completeUploadExternal. Accessors return copies.
type File struct {
	// ID is the file ID handed out by files.getUploadURLExternal: F0000000001,
	// F0000000002, ...
	ID string
	// Name is the filename given to files.getUploadURLExternal.
	Name string
	// Title is the title given at completion; Name when none was given, as
	// Slack does.
	Title string
	// Channel is the channel the file was shared in, "" for a file completed
	// without a channel (private to the bot).
	Channel string
	// InitialComment is the initial_comment the file was shared with.
	InitialComment string
	// ThreadTS is the thread_ts the file was shared with, "" outside threads.
	ThreadTS string
	// Content is the bytes posted to the upload URL, at most the announced
	// length.
	Content []byte
	// At is when the upload was completed, by the server's clock.
	At time.Time
}

// upload is the state of one file ID; s.mu guards it.
type upload struct {
	id, name, token string
	length          int
	content         []byte
	uploaded        bool // the upload URL received the bytes
	completed       bool // files.completeUploadExternal took it
	title, comment  string
	threadTS        string
	channels        []string
	at              time.Time
}

// Files returns the completed uploads, in completion order: one File per
// channel a file was shared in, or one with Channel "" for a file completed
// without a channel. Uploads not completed yet are left out.
func (s *Server) Files() []File {
	return s.filesWhere(func(File) bool { return true })
}

// FilesIn returns the files shared in the channel, in completion order.
func (s *Server) FilesIn(channelID string) []File {
	return s.filesWhere(func(f File) bool { return f.Channel == channelID })
}

func (s *Server) filesWhere(keep func(File) bool) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, u := range s.completedFiles {
		channels := u.channels
		if len(channels) == 0 {
			channels = []string{""}
		}
		for _, ch := range channels {
			f := File{
				ID: u.id, Name: u.name, Title: u.title, Channel: ch,
				InitialComment: u.comment, ThreadTS: u.threadTS, At: u.at,
			}
			if keep(f) {
				f.Content = bytes.Clone(u.content)
				if f.Content == nil {
					f.Content = []byte{}
				}
				out = append(out, f)
			}
		}
	}
	return out
}

func (s *Server) filesGetUploadURLExternal(p url.Values) reply {
	name, length := p.Get("filename"), p.Get("length")
	switch {
	case name == "":
		return invalidArguments("[ERROR] missing required field: filename")
	case length == "":
		return invalidArguments("[ERROR] missing required field: length")
	}
	n, err := strconv.Atoi(length)
	switch {
	case err != nil || n < 0:
		return invalidArguments("[ERROR] invalid value for field: length")
	case n == 0: // Slack's documented answer to length 0
		return fail("missing_argument")
	case utf8.RuneCountInString(p.Get("alt_txt")) > maxAltTxt:
		return fail("alt_txt_too_large")
	case p.Get("snippet_type") != "" && n > maxSnippetLen:
		return fail("snippet_too_large")
	}
	if s.uploads == nil {
		s.uploads = map[string]*upload{}
		s.uploadTokens = map[string]*upload{}
	}
	s.nextFile++
	u := &upload{id: fmt.Sprintf("F%010d", s.nextFile), name: name, token: randomHex(16), length: n}
	s.uploads[u.id] = u
	s.uploadTokens[u.token] = u
	return ok(map[string]any{"upload_url": s.rootURL + uploadPath + u.token, "file_id": u.id})
}

// fileArg is one element of the files parameter of completeUploadExternal.
type fileArg struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func (s *Server) filesCompleteUploadExternal(p url.Values) reply {
	raw := p.Get("files")
	if strings.TrimSpace(raw) == "" {
		return invalidArguments("[ERROR] missing required field: files")
	}
	var args []fileArg
	if err := json.Unmarshal([]byte(raw), &args); err != nil || len(args) == 0 {
		return invalidArguments("[ERROR] invalid value for field: files")
	}
	ups := make([]*upload, 0, len(args))
	for _, a := range args {
		u := s.uploads[a.ID]
		if u == nil || !u.uploaded || u.completed || slices.Contains(ups, u) {
			return fail("file_not_found")
		}
		ups = append(ups, u)
	}

	ids := shareTargets(p.Get("channel_id"), p.Get("channels"))
	if len(ids) > maxShareChannels {
		return fail("channels_limit_exceeded")
	}
	chans := make([]*Channel, 0, len(ids))
	for _, id := range ids {
		c := s.byID(id)
		switch {
		case c == nil || !s.visible(c):
			return fail("channel_not_found")
		case c.IsArchived:
			return fail("is_archived")
		case !c.isMember(s.BotUserID):
			return fail("not_in_channel")
		}
		chans = append(chans, c)
	}

	comment, blocks, threadTS := p.Get("initial_comment"), p.Get("blocks"), p.Get("thread_ts")
	if comment != "" {
		blocks = "" // Slack ignores blocks when there is an initial comment
	}
	switch {
	case utf8.RuneCountInString(comment) > maxTextLen:
		return fail("msg_too_long")
	case !isJSONArray(blocks):
		return fail("invalid_blocks")
	}

	now := s.now()
	fileIDs := make([]string, 0, len(ups))
	summaries := make([]map[string]any, 0, len(ups))
	for i, u := range ups {
		u.completed, u.at = true, now
		u.title = args[i].Title
		if u.title == "" {
			u.title = u.name
		}
		u.comment, u.threadTS, u.channels = comment, threadTS, ids
		s.completedFiles = append(s.completedFiles, u)
		delete(s.uploadTokens, u.token)
		fileIDs = append(fileIDs, u.id)
		summaries = append(summaries, map[string]any{"id": u.id, "title": u.title})
	}
	for _, c := range chans {
		m := &Message{
			Channel: c.ID, TS: s.nextTS(), ThreadTS: threadTS,
			User: s.BotUserID, BotID: s.BotID,
			Text: comment, Blocks: nonEmpty(blocks), Files: slices.Clone(fileIDs),
		}
		s.messages[c.ID] = append(s.messages[c.ID], m)
	}
	return ok(map[string]any{"files": summaries})
}

// filesInfo answers files.info for a completed upload: the file with its
// permalink. A file ID never handed out, or not completed yet, is
// file_not_found, as Slack answers.
func (s *Server) filesInfo(p url.Values) reply {
	id := p.Get("file")
	u := s.uploads[id]
	if u == nil || !u.completed {
		return fail("file_not_found")
	}
	return ok(map[string]any{"file": s.fileJSON(id), "comments": []any{}, "response_metadata": map[string]any{"next_cursor": ""}})
}

// shareTargets merges channel_id and the comma-separated channels, without
// duplicates, channel_id first.
func shareTargets(channelID, channels string) []string {
	var out []string
	for _, id := range append([]string{channelID}, strings.Split(channels, ",")...) {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// serveUpload answers a POST to an upload URL like Slack's file service:
// 200 "OK - <bytes stored>", or 404 for a URL never issued or whose file
// was completed already.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	defer func() { _, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBody)) }()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plain(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	token := strings.TrimPrefix(r.URL.Path, uploadPath)
	s.mu.Lock()
	u := s.uploadTokens[token]
	length := 0
	if u != nil {
		length = u.length
	}
	s.mu.Unlock()
	if u == nil {
		plain(w, http.StatusNotFound, "Not Found")
		return
	}
	content, err := readUpload(r, length)
	if err != nil {
		plain(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	s.mu.Lock()
	gone := u.completed
	if !gone {
		u.content, u.uploaded = content, true
	}
	s.mu.Unlock()
	if gone {
		plain(w, http.StatusNotFound, "Not Found")
		return
	}
	plain(w, http.StatusOK, fmt.Sprintf("OK - %d", len(content)))
}

// readUpload reads at most length bytes of the file in r: the first file
// part of a multipart form (one with a filename, or named "file"), or else
// the raw body.
func readUpload(r *http.Request, length int) ([]byte, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return io.ReadAll(io.LimitReader(r.Body, int64(length)))
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no file in the form")
		}
		if err != nil {
			return nil, err
		}
		if part.FileName() != "" || part.FormName() == "file" {
			return io.ReadAll(io.LimitReader(part, int64(length)))
		}
	}
}

// fileJSON is a file as Slack shows it in a message's files.
func (s *Server) fileJSON(id string) map[string]any {
	u := s.uploads[id]
	if u == nil {
		return map[string]any{"id": id}
	}
	public := false
	for _, chID := range u.channels {
		if c := s.byID(chID); c != nil && !c.IsPrivate {
			public = true
		}
	}
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(u.name), "."))
	mimeType, _, _ := mime.ParseMediaType(mime.TypeByExtension(path.Ext(u.name)))
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	if ext == "" {
		ext = "binary"
	}
	return map[string]any{
		"id": u.id, "created": u.at.Unix(), "timestamp": u.at.Unix(),
		"name": u.name, "title": u.title, "mimetype": mimeType, "filetype": ext,
		"user": s.BotUserID, "user_team": s.TeamID, "size": len(u.content),
		"mode": "hosted", "is_external": false, "is_public": public,
		"editable": false, "display_as_bot": false,
		"permalink": "https://" + s.TeamDomain + ".slack.com/files/" + s.BotUserID + "/" + u.id + "/" + url.PathEscape(u.name),
	}
}

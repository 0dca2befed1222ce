// The search page's UI text in English and Japanese (page.js picks one from Accept-Language or the switch).
"use strict";
const TEXT = {
  en: {
    anon: "Not signed in: public documents only.", signedIn: "Signed in as", anApiKey: "an API key",
    samplePerson: "Sample person", signInAs: "Sign in as", signIn: "Sign in", signOut: "Sign out",
    question: "Question or search words", placeholder: "Ask a question or search… (press / to focus)",
    ask: "Ask", search: "Search", filters: "Filters", source: "Source", anySource: "All sources",
    updated: "Updated", anyTime: "Any time", day: "Past day", week: "Past week", month: "Past month",
    year: "Past year", language: "Language", anyLanguage: "Any language", answer: "Answer", results: "Results",
    more: "More results", noHits: "No matching documents.", thinking: "Searching…", error: "Error",
    refusal: "Not found in the documents you can see. The closest matches are below.",
    helpful: "Helpful", notHelpful: "Not helpful", comment: "Comment (optional)", send: "Send",
    thanks: "Thanks, feedback saved.", noGroups: "no groups", updatedOn: "updated", sources: "Sources",
    unavailable: "Sign-in status unavailable.",
    place: "Space / channel / folder", anyPlace: "All spaces, channels and folders", space: "Space", folder: "Folder",
  },
  ja: {
    anon: "未サインイン：公開文書のみ検索します。", signedIn: "サインイン中：", anApiKey: "API キー",
    samplePerson: "サンプルの人物", signInAs: "この人としてサインイン", signIn: "サインイン", signOut: "サインアウト",
    question: "質問または検索語", placeholder: "質問または検索語を入力（/ キーで移動）",
    ask: "質問する", search: "検索", filters: "絞り込み", source: "ソース", anySource: "すべてのソース",
    updated: "更新日", anyTime: "期間指定なし", day: "過去 1 日", week: "過去 1 週間", month: "過去 1 か月",
    year: "過去 1 年", language: "言語", anyLanguage: "すべての言語", answer: "回答", results: "検索結果",
    more: "さらに表示", noHits: "一致する文書はありません。", thinking: "検索中…", error: "エラー",
    refusal: "閲覧できる文書の中に答えが見つかりませんでした。関連する文書を下に示します。",
    helpful: "役に立った", notHelpful: "役に立たなかった", comment: "コメント（任意）", send: "送信",
    thanks: "フィードバックを保存しました。", noGroups: "グループなし", updatedOn: "更新", sources: "出典",
    unavailable: "サインイン状態を取得できません。",
    place: "スペース／チャンネル／フォルダ", anyPlace: "すべてのスペース・チャンネル・フォルダ", space: "スペース",
    folder: "フォルダ",
  },
};

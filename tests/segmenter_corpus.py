"""Golden sentence-boundary corpus for the streaming segmenter (``streaming/segmenter.py``).

Each case is ``(category, text, golden sentences)``: the sentences are the text cut where a
careful human reader puts sentence boundaries. Whitespace inside and between them is free
(boundaries are compared on the text with whitespace squeezed out), every other character
of the text is in exactly one sentence, in order. ``tests/segmenter_conformance.py`` scores
the segmenter (and PyPI's ``pysbd``/``sentencex``) against it.

Conventions, where English leaves a choice:

* A period that ends an abbreviation, an initial or a dotted acronym ending a sentence
  ("... in the U.S. How about you?") ends the sentence too.
* Lists on their own lines: every item is a sentence, ended or not ("- flour"), and so is
  the line that introduces them ("Ingredients:") and each row of a table (its header with
  the rule under it); a line that wraps an item ("   wraps
  onto a second line") belongs to it. A newline with no marker, heading or sentence end
  around it is a soft wrap ("a cold \\nnight"), except in a column of bare lines
  ("features\\ncontact manager"), whose lines are items.
* Inline lists (several items run into one line, the first marker opening the text or
  following a colon or a bullet): every item is a sentence, ended or not, as in the
  English "golden rules" set: "1. The first item 2. The second item" is two. The text
  before the first marker stays with the first item ("Steps: 1. Mix the flour."), and
  an item ending in its own sentence end splits there too ("1. Mix. Stir. 2. Bake."). There
  is never a boundary between a marker ("2.", "b)", "(3)", "• 10.", "iii.") and its item.
* An item that ends in "and"/"or" runs on into the next: that is an enumeration inside a
  sentence ("two choices: (a) upgrade now, or (b) wait"), and so are markers that
  neither open the text nor follow a colon ("You need (1) a passport").
* Quoted speech: a sentence end inside quotes ends the sentence unless the attribution
  follows ('"This is great." she said.', '"Stop!" John shouted.' are one sentence each).
  An ellipsis inside an open quotation that is not followed by the closing quote trails
  off mid-quote and ends nothing ('"I thought... Never mind," she said.').
* Ellipses: three dots ("...", "…", ". . .") followed by a lowercase word or "I" continue
  the sentence; "..."/"…" followed by another capitalised word end it (the way an LLM
  writes "Wait... Then it happened."), the spaced, literary ". . ." only with a fourth
  dot (". . . ." / "word. . . ."), as the style guides have it. "[...]" and "(...)" mark an
  omission and end nothing by themselves.
"""
from __future__ import annotations

CATEGORIES = (
    "prose",
    "abbreviations_initials",
    "acronyms_at_sentence_end",
    "quotes_brackets",
    "lists_inline",
    "lists_on_lines",
    "numbers",
    "urls_emails",
    "ellipses",
    "missing_spaces",
    "markdown",
)

Case = tuple[str, str, list[str]]


def _cases(category: str, *items: tuple[str, list[str]]) -> list[Case]:
    return [(category, text, sentences) for text, sentences in items]




def _one(*texts: str) -> list[tuple[str, list[str]]]:
    return [(text, [text]) for text in texts]


PROSE = _cases(
    "prose",
    ("Hello World. My name is Jonas.", ["Hello World.", "My name is Jonas."]),
    ("What is your name? My name is Jonas.", ["What is your name?", "My name is Jonas."]),
    ("There it is! I found it.", ["There it is!", "I found it."]),
    ("Hello!! Long time no see.", ["Hello!!", "Long time no see."]),
    ("Hello?! Is that you?", ["Hello?!", "Is that you?"]),
    ("Sure! Here's a quick overview. Python is a high-level language that emphasizes "
     "readability. It was created by Guido van Rossum and first released in 1991.",
     ["Sure!", "Here's a quick overview.",
      "Python is a high-level language that emphasizes readability.",
      "It was created by Guido van Rossum and first released in 1991."]),
    ("Great question. The short answer is yes, but it depends on your setup; in most cases "
     "the default settings work fine. Let me know if you need more detail.",
     ["Great question.",
      "The short answer is yes, but it depends on your setup; in most cases the default "
      "settings work fine.",
      "Let me know if you need more detail."]),
    ("The mitochondria is the powerhouse of the cell. It produces energy in the form of ATP. "
     "Without it, most complex life could not exist.",
     ["The mitochondria is the powerhouse of the cell.",
      "It produces energy in the form of ATP.", "Without it, most complex life could not exist."]),
    ("I'm not sure that's right. Could you double-check the numbers? If they match, we're done.",
     ["I'm not sure that's right.", "Could you double-check the numbers?",
      "If they match, we're done."]),
    ("It was late, and the streets were empty \u2014 nobody was out. She walked home alone.",
     ["It was late, and the streets were empty \u2014 nobody was out.",
      "She walked home alone."]),
    ("Photosynthesis converts light into chemical energy. Plants, algae and some bacteria use it.",
     ["Photosynthesis converts light into chemical energy.",
      "Plants, algae and some bacteria use it."]),
    ("Don't worry about it! Everyone makes mistakes. What matters is what you do next.",
     ["Don't worry about it!", "Everyone makes mistakes.", "What matters is what you do next."]),
    ("The meeting went well. We agreed on the budget, the timeline and the next steps. Anna "
     "will send the notes tomorrow.",
     ["The meeting went well.", "We agreed on the budget, the timeline and the next steps.",
      "Anna will send the notes tomorrow."]),
    ("To be honest, I prefer tea. Coffee keeps me awake at night.",
     ["To be honest, I prefer tea.", "Coffee keeps me awake at night."]),
    ("The river rose quickly after the storm. By morning, the bridge was closed. Nobody could "
     "cross until noon.",
     ["The river rose quickly after the storm.", "By morning, the bridge was closed.",
      "Nobody could cross until noon."]),
    ("Why does the sky look blue? Sunlight is scattered by the molecules in the air. Blue "
     "light is scattered more than red light because it has a shorter wavelength.",
     ["Why does the sky look blue?", "Sunlight is scattered by the molecules in the air.",
      "Blue light is scattered more than red light because it has a shorter wavelength."]),
    ("Okay. Let's begin with the basics.", ["Okay.", "Let's begin with the basics."]),
    ("Hello?? Who is there?", ["Hello??", "Who is there?"]),
    *_one("She works at Yahoo! in the accounting department."),
)

ABBREVIATIONS = _cases(
    "abbreviations_initials",
    *_one(
        "My name is Jonas E. Smith.",
        "Please turn to p. 55.",
        "Were Jane and co. at the party?",
        "They closed the deal with Pitt, Briggs & Co. at noon.",
        "I can see Mt. Fuji from here.",
        "St. Michael's Church is on 5th st. near the light.",
        "That is JFK Jr.'s book.",
        "Our tour starts on Main St. at the old courthouse and ends on Elm Ave. near the park.",
        "Ask Gen. Ortiz or Lt. Col. Brooks before you leave.",
        "Use an image editor, e.g. The GIMP, for quick fixes.",
    ),
    ("Dr. Patel will see you at the clinic on Monday. Please bring your insurance card.",
     ["Dr. Patel will see you at the clinic on Monday.", "Please bring your insurance card."]),
    ("Mr. and Mrs. Thompson arrived early. They brought a cake.",
     ["Mr. and Mrs. Thompson arrived early.", "They brought a cake."]),
    ("The novel was written by J. R. R. Tolkien. It was published in 1954.",
     ["The novel was written by J. R. R. Tolkien.", "It was published in 1954."]),
    ("Prof. Nguyen and Dr. Ramirez co-authored the study. Their results were published last "
     "year.",
     ["Prof. Nguyen and Dr. Ramirez co-authored the study.",
      "Their results were published last year."]),
    ("The company, Acme Corp., was founded by Sen. Harris's grandfather. It still makes anvils.",
     ["The company, Acme Corp., was founded by Sen. Harris's grandfather.",
      "It still makes anvils."]),
    ("Bring fruit, vegetables, bread, etc. to the picnic. We will provide drinks.",
     ["Bring fruit, vegetables, bread, etc. to the picnic.", "We will provide drinks."]),
    ("The Lakers vs. Celtics rivalry is one of the oldest in sports. It dates back to the 1950s.",
     ["The Lakers vs. Celtics rivalry is one of the oldest in sports.",
      "It dates back to the 1950s."]),
    ("The study by Smith et al. found a strong effect. Later work confirmed it.",
     ["The study by Smith et al. found a strong effect.", "Later work confirmed it."]),
    ("President John F. Kennedy gave the speech in 1961. It inspired a generation.",
     ["President John F. Kennedy gave the speech in 1961.", "It inspired a generation."]),
    ("The letter was signed by George W. Bush. He had just taken office.",
     ["The letter was signed by George W. Bush.", "He had just taken office."]),
    ("We make a good team, you and I. Did you see Albert I. Jones yesterday?",
     ["We make a good team, you and I.", "Did you see Albert I. Jones yesterday?"]),
    ("Rev. Martin Luther King Jr. delivered the speech in Washington. Millions listened.",
     ["Rev. Martin Luther King Jr. delivered the speech in Washington.", "Millions listened."]),
    ("Oranges are rich in vitamin C. They also contain fiber.",
     ["Oranges are rich in vitamin C.", "They also contain fiber."]),
    ("Let's ask Jane and co. They should know.", ["Let's ask Jane and co.", "They should know."]),
    ("They closed the deal with Pitt, Briggs & Co. It closed yesterday.",
     ["They closed the deal with Pitt, Briggs & Co.", "It closed yesterday."]),
    ("Yes! The answer is B. The other options are wrong.",
     ["Yes!", "The answer is B.", "The other options are wrong."]),
    ("We went with Plan B. The first plan was too expensive.",
     ["We went with Plan B.", "The first plan was too expensive."]),
)

ACRONYMS = _cases(
    "acronyms_at_sentence_end",
    ("I live in the U.S. How about you?", ["I live in the U.S.", "How about you?"]),
    ("I live in the E.U. How about you?", ["I live in the E.U.", "How about you?"]),
    *_one(
        "I work for the U.S. Government in Virginia.",
        "I have lived in the U.S. for 20 years.",
        "I visited the U.S.A. last year.",
        "She earned her Ph.D. in chemistry from MIT.",
        "The meeting was moved to 10 a.m. on Friday.",
        "The U.S. Army Corps of Engineers built the dam.",
        "We flew from L.A. to N.Y. in under five hours.",
    ),
    ("The store opens at 9 a.m. The line starts forming an hour earlier.",
     ["The store opens at 9 a.m.", "The line starts forming an hour earlier."]),
    ("The webinar ends at 3:45 p.m. We'll send the recording afterwards.",
     ["The webinar ends at 3:45 p.m.", "We'll send the recording afterwards."]),
    ("He finished his Ph.D. The next year he moved to Berlin.",
     ["He finished his Ph.D.", "The next year he moved to Berlin."]),
    ("Most of the team is based in Washington, D.C. The rest work remotely.",
     ["Most of the team is based in Washington, D.C.", "The rest work remotely."]),
    ("The package was shipped from the U.K. It should arrive within a week.",
     ["The package was shipped from the U.K.", "It should arrive within a week."]),
    ("The new rules apply across the E.U. But enforcement varies from country to country.",
     ["The new rules apply across the E.U.",
      "But enforcement varies from country to country."]),
    ("Call me after 6 p.m. I'm usually free then.",
     ["Call me after 6 p.m.", "I'm usually free then."]),
    ("The charter was signed by the members of the U.N. Its headquarters are in New York.",
     ["The charter was signed by the members of the U.N.",
      "Its headquarters are in New York."]),
    ("At 5 a.m. Mr. Smith went to the bank. He left the bank at 6 P.M. Mr. Smith then went "
     "to the store.",
     ["At 5 a.m. Mr. Smith went to the bank.", "He left the bank at 6 P.M.",
      "Mr. Smith then went to the store."]),
    ("Acme Inc. reported record profits. Its shares rose 8%.",
     ["Acme Inc. reported record profits.", "Its shares rose 8%."]),
)

QUOTES = _cases(
    "quotes_brackets",
    *_one(
        'She turned to him, "This is great." she said.',
        "She turned to him, 'This is great.' she said.",
        "He teaches science (He previously worked for 5 years as an engineer.) at the local "
        "University.",
    ),
    ('She turned to him, "This is great." She held the book out to show him.',
     ['She turned to him, "This is great."', "She held the book out to show him."]),
    ('"Stop!" John shouted. Everyone froze.', ['"Stop!" John shouted.', "Everyone froze."]),
    ('"Are you coming?" asked Maria. "We leave in five minutes."',
     ['"Are you coming?" asked Maria.', '"We leave in five minutes."']),
    ("\u201cWhere are the keys?\u201d she asked. \u201cI left them on the table.\u201d",
     ["\u201cWhere are the keys?\u201d she asked.", "\u201cI left them on the table.\u201d"]),
    ("The answer (as far as we know) is 42. Nobody has checked it since.",
     ["The answer (as far as we know) is 42.", "Nobody has checked it since."]),
    ("The report [see appendix B] covers all regions. Each region has its own chapter.",
     ["The report [see appendix B] covers all regions.", "Each region has its own chapter."]),
    ("He said \u201cStop.\u201d Then he left the room.",
     ["He said \u201cStop.\u201d", "Then he left the room."]),
    ("The old sign read: 'Closed for repairs.' Nobody knew when it would reopen.",
     ["The old sign read: 'Closed for repairs.'", "Nobody knew when it would reopen."]),
    ("\u201cHe called it \u2018a disaster.\u2019\u201d Then he resigned.",
     ["\u201cHe called it \u2018a disaster.\u2019\u201d", "Then he resigned."]),
    ("(This step is optional.) If you skip it, the build still works.",
     ["(This step is optional.)", "If you skip it, the build still works."]),
    ('The term "machine learning" was coined in 1959. It describes systems that learn from '
     "data.",
     ['The term "machine learning" was coined in 1959.',
      "It describes systems that learn from data."]),
    ("Her reply was short: \u201cNo.\u201d That was the end of it.",
     ["Her reply was short: \u201cNo.\u201d", "That was the end of it."]),
    ('"Why?" Tom asked. "Because I said so," his mother replied.',
     ['"Why?" Tom asked.', '"Because I said so," his mother replied.']),
    ("The results were clear (p < 0.01). We rejected the null hypothesis.",
     ["The results were clear (p < 0.01).", "We rejected the null hypothesis."]),
    ("Einstein wrote that \u201cimagination is more important than knowledge.\u201d Many "
     "people quote him.",
     ["Einstein wrote that \u201cimagination is more important than knowledge.\u201d",
      "Many people quote him."]),
    ('"Fine!" Sarah Lee snapped. She slammed the door.',
     ['"Fine!" Sarah Lee snapped.', "She slammed the door."]),
    ('"Is it safe?" Dr. Lee asked. "Yes," said the nurse.',
     ['"Is it safe?" Dr. Lee asked.', '"Yes," said the nurse.']),
)

LISTS_INLINE = _cases(
    "lists_inline",
    ("1.) The first item 2.) The second item", ["1.) The first item", "2.) The second item"]),
    ("1.) The first item. 2.) The second item.",
     ["1.) The first item.", "2.) The second item."]),
    ("1) The first item 2) The second item", ["1) The first item", "2) The second item"]),
    ("1) The first item. 2) The second item.", ["1) The first item.", "2) The second item."]),
    ("1. The first item 2. The second item", ["1. The first item", "2. The second item"]),
    ("1. The first item. 2. The second item.", ["1. The first item.", "2. The second item."]),
    ("\u2022 9. The first item \u2022 10. The second item",
     ["\u2022 9. The first item", "\u2022 10. The second item"]),
    ("\u20439. The first item \u204310. The second item",
     ["\u20439. The first item", "\u204310. The second item"]),
    ("a. The first item b. The second item c. The third list item",
     ["a. The first item", "b. The second item", "c. The third list item"]),
    ("Steps: 1. Mix the flour. 2. Add water. 3. Knead for ten minutes.",
     ["Steps: 1. Mix the flour.", "2. Add water.", "3. Knead for ten minutes."]),
    ("Options: a. Take the bus. b. Call a taxi. c. Walk.",
     ["Options: a. Take the bus.", "b. Call a taxi.", "c. Walk."]),
    *_one("You have two choices: (a) upgrade now, or (b) wait for the next release."),
    ("The plan has three phases: (1) research, (2) design and (3) testing. Each phase takes a "
     "month.",
     ["The plan has three phases: (1) research, (2) design and (3) testing.",
      "Each phase takes a month."]),
    ("Rules: (1) Be kind. (2) Be on time. (3) Have fun.",
     ["Rules: (1) Be kind.", "(2) Be on time.", "(3) Have fun."]),
    ("To reset it: 1. Unplug the router 2. Wait 30 seconds 3. Plug it back in",
     ["To reset it: 1. Unplug the router", "2. Wait 30 seconds", "3. Plug it back in"]),
    ("Here is the order: A. Preheat the oven B. Grease the pan C. Pour the batter",
     ["Here is the order: A. Preheat the oven", "B. Grease the pan", "C. Pour the batter"]),
    ("Priorities this week: i. Fix the login bug. ii. Update the docs. iii. Ship version 2.1.",
     ["Priorities this week: i. Fix the login bug.", "ii. Update the docs.",
      "iii. Ship version 2.1."]),
    ("There are 3 steps. 1. Open the app. 2. Tap Settings.",
     ["There are 3 steps.", "1. Open the app.", "2. Tap Settings."]),
    ("1. Mix. Stir well. 2. Bake for an hour.", ["1. Mix.", "Stir well.", "2. Bake for an hour."]),
    ("a) The first item b) The second item", ["a) The first item", "b) The second item"]),
    ("Sure! Here are three tips: 1. Drink water. 2. Sleep 8 hours. 3. Walk daily. Want more?",
     ["Sure!", "Here are three tips: 1. Drink water.", "2. Sleep 8 hours.", "3. Walk daily.",
      "Want more?"]),
    ("My top 3: 1) Paris 2) Rome 3) Tokyo. All great!",
     ["My top 3: 1) Paris", "2) Rome", "3) Tokyo.", "All great!"]),
    ("(a) The first item (b) The second item", ["(a) The first item", "(b) The second item"]),
    ("i. The first item ii. The second item iii. The third item",
     ["i. The first item", "ii. The second item", "iii. The third item"]),
    ("\u2022 The first item \u2022 The second item",
     ["\u2022 The first item", "\u2022 The second item"]),
)

LISTS_ON_LINES = _cases(
    "lists_on_lines",
    ("Ingredients:\n- 2 cups flour\n- 1 cup sugar\n- 3 eggs",
     ["Ingredients:", "- 2 cups flour", "- 1 cup sugar", "- 3 eggs"]),
    ("Here's how to set it up:\n\n1. Install the package.\n2. Run the migrations.\n3. Start the "
     "server.",
     ["Here's how to set it up:", "1. Install the package.", "2. Run the migrations.",
      "3. Start the server."]),
    ("Steps:\n1) Open the lid\n2) Insert the filter\n3) Close the lid",
     ["Steps:", "1) Open the lid", "2) Insert the filter", "3) Close the lid"]),
    ("a) Red\nb) Green\nc) Blue", ["a) Red", "b) Green", "c) Blue"]),
    ("* Fast\n* Cheap\n* Reliable", ["* Fast", "* Cheap", "* Reliable"]),
    ("Pros:\n\u2022 Light\n\u2022 Quiet\nCons:\n\u2022 Expensive",
     ["Pros:", "\u2022 Light", "\u2022 Quiet", "Cons:", "\u2022 Expensive"]),
    ("1. Preheat the oven to 180 \u00b0C.\n2. Mix the dry ingredients.\n\nEnjoy your cake!",
     ["1. Preheat the oven to 180 \u00b0C.", "2. Mix the dry ingredients.", "Enjoy your cake!"]),
    ("- Item one\n  - Sub-item A\n  - Sub-item B\n- Item two",
     ["- Item one", "- Sub-item A", "- Sub-item B", "- Item two"]),
    ("features\ncontact manager\nevents, activities",
     ["features", "contact manager", "events, activities"]),
    ("Benefits of exercise:\n\n- Better sleep\n- More energy\n- Lower stress\n\nStart slowly "
     "and build up.",
     ["Benefits of exercise:", "- Better sleep", "- More energy", "- Lower stress",
      "Start slowly and build up."]),
    ("## Requirements\n- Python 3.11\n- PostgreSQL 15",
     ["## Requirements", "- Python 3.11", "- PostgreSQL 15"]),
    ("1. First item that is long and\n   wraps onto a second line\n2. Second item",
     ["1. First item that is long and\n   wraps onto a second line", "2. Second item"]),
    ("Checklist:\n- [x] Book flights\n- [ ] Reserve hotel",
     ["Checklist:", "- [x] Book flights", "- [ ] Reserve hotel"]),
    ("To do:\n- Call the bank.\n- Pay rent.\n- Buy milk.",
     ["To do:", "- Call the bank.", "- Pay rent.", "- Buy milk."]),
    *_one(
        "It was a cold \nnight in the city.",
        "This is a sentence\ncut off in the middle because pdf.",
    ),
    ("I. Introduction\nII. Methods\nIII. Results",
     ["I. Introduction", "II. Methods", "III. Results"]),
    ("> Note: this is a quote.\n> It spans two lines.",
     ["> Note: this is a quote.", "> It spans two lines."]),
    ("Here are the plans:\n\n| Plan | Price |\n|------|------:|\n| Free | $0 |\n| Pro | $9.99 |"
     "\n\nPick one.",
     ["Here are the plans:", "| Plan | Price |\n|------|------:|", "| Free | $0 |",
      "| Pro | $9.99 |", "Pick one."]),
    ("Shopping list:\n- eggs\n- milk\nThat's all for today.",
     ["Shopping list:", "- eggs", "- milk", "That's all for today."]),
)

NUMBERS = _cases(
    "numbers",
    *_one(
        "She has $100.00 in her bag.",
        "The train leaves at 3:45 p.m. from platform 9.",
        "See No. 5 on the list for details.",
        "Room No. 12 is on the second floor.",
        "The recipe needs 2.5 cups of flour and 1.5 tsp. of salt.",
        "He was born on Jan. 5, 1990 in Ohio.",
        "The box is 6 ft. 2 in. tall.",
        "See Eq. (3) for the derivation.",
        "The archive holds letter N\u00b0. 1026 from the mayor.",
    ),
    ("She has $100.00. It is in her bag.", ["She has $100.00.", "It is in her bag."]),
    ("You can find it at N\u00b0. 1026.253.553. That is where the treasure is.",
     ["You can find it at N\u00b0. 1026.253.553.", "That is where the treasure is."]),
    ("The basic plan costs $19.99 per month. The premium plan costs $29.99.",
     ["The basic plan costs $19.99 per month.", "The premium plan costs $29.99."]),
    ("Upgrade to v2.3.1 before Friday. Older versions have a security bug.",
     ["Upgrade to v2.3.1 before Friday.", "Older versions have a security bug."]),
    ("The latest release is version 4.2. It fixes the memory leak.",
     ["The latest release is version 4.2.", "It fixes the memory leak."]),
    ("The value of pi is approximately 3.14159. Most people round it to 3.14.",
     ["The value of pi is approximately 3.14159.", "Most people round it to 3.14."]),
    ("The Eiffel Tower was completed in 1889. It was the tallest structure in the world for "
     "41 years.",
     ["The Eiffel Tower was completed in 1889.",
      "It was the tallest structure in the world for 41 years."]),
    ("The temperature dropped to -5.5 \u00b0C overnight. Roads were icy by morning.",
     ["The temperature dropped to -5.5 \u00b0C overnight.", "Roads were icy by morning."]),
    ("Revenue grew 12.5% in Q3. Costs rose by only 3%.",
     ["Revenue grew 12.5% in Q3.", "Costs rose by only 3%."]),
    ("The population is about 8.1 billion. It grows by roughly 0.9% a year.",
     ["The population is about 8.1 billion.", "It grows by roughly 0.9% a year."]),
    ("Read chapter 3, pp. 45-67, before class. We'll discuss it on Monday.",
     ["Read chapter 3, pp. 45-67, before class.", "We'll discuss it on Monday."]),
    ("The score was 3-1. Our team won.", ["The score was 3-1.", "Our team won."]),
    ("Call 555-0123 for help. Lines are open 24/7.",
     ["Call 555-0123 for help.", "Lines are open 24/7."]),
    ("The answer is 42. Nobody knows the question.",
     ["The answer is 42.", "Nobody knows the question."]),
    ("Our goal is 1,000,000 users by 2030. We are at 750,000 now.",
     ["Our goal is 1,000,000 users by 2030.", "We are at 750,000 now."]),
    ("The treaty was signed in 1648. 30 years of war had ended.",
     ["The treaty was signed in 1648.", "30 years of war had ended."]),
)

URLS_EMAILS = _cases(
    "urls_emails",
    ("Her email is Jane.Doe@example.com. I sent her an email.",
     ["Her email is Jane.Doe@example.com.", "I sent her an email."]),
    ("The site is: https://www.example.50.com/new-site/awesome_content.html. Please check it "
     "out.",
     ["The site is: https://www.example.50.com/new-site/awesome_content.html.",
      "Please check it out."]),
    ("Visit https://docs.python.org/3/library/re.html for details. It covers every flag.",
     ["Visit https://docs.python.org/3/library/re.html for details.", "It covers every flag."]),
    ("Send your CV to jobs@acme.io. We reply within a week.",
     ["Send your CV to jobs@acme.io.", "We reply within a week."]),
    ("The repo lives at github.com/acme/widgets. Clone it and run the tests.",
     ["The repo lives at github.com/acme/widgets.", "Clone it and run the tests."]),
    ("Go to www.example.org/help?topic=billing&lang=en. The form is at the bottom.",
     ["Go to www.example.org/help?topic=billing&lang=en.", "The form is at the bottom."]),
    *_one(
        "You can reach support at support@example.co.uk or call us.",
        "I use Node.js and Vue.js for the frontend.",
    ),
    ("Check out example.com. It has great tutorials.",
     ["Check out example.com.", "It has great tutorials."]),
    ("Open http://localhost:8000/admin/ in your browser. Log in with the admin account.",
     ["Open http://localhost:8000/admin/ in your browser.", "Log in with the admin account."]),
    ("The file is at /usr/local/etc/app.conf on Linux. On macOS, it's in ~/Library.",
     ["The file is at /usr/local/etc/app.conf on Linux.", "On macOS, it's in ~/Library."]),
    ("Download it from https://example.com/files/report_v1.2.pdf. It is about 3 MB.",
     ["Download it from https://example.com/files/report_v1.2.pdf.", "It is about 3 MB."]),
    ("Our site (example.net) has the details. Email info@example.net with questions.",
     ["Our site (example.net) has the details.", "Email info@example.net with questions."]),
    ("Use the endpoint /api/v1/users?page=2 to get the next page. Each page has 50 users.",
     ["Use the endpoint /api/v1/users?page=2 to get the next page.",
      "Each page has 50 users."]),
    ("Contact j.smith@university.edu for the dataset. Access is free for researchers.",
     ["Contact j.smith@university.edu for the dataset.", "Access is free for researchers."]),
    ("See https://en.wikipedia.org/wiki/Python_(programming_language). It has a good history "
     "section.",
     ["See https://en.wikipedia.org/wiki/Python_(programming_language).",
      "It has a good history section."]),
    ("The config lives in settings.py. Edit it carefully.",
     ["The config lives in settings.py.", "Edit it carefully."]),
)

ELLIPSES = _cases(
    "ellipses",
    *_one(
        "I wasn\u2019t really ... well, what I mean...see . . . what I'm saying, the thing is "
        ". . . I didn\u2019t mean it.",
        "Thoreau argues that by simplifying one\u2019s life, \u201cthe laws of the universe "
        "will appear less complex. . . .\u201d",
        "Well... I guess you're right.",
        "Hmm\u2026 let me think about that.",
        "\u201cI was going to... never mind,\u201d she said.",
        "\u201cWell . . . I suppose so,\u201d Ana replied.",
        "The list goes on: apples, pears, plums...",
        "He paused . . . and then continued reading.",
        "The quote ends with \u201cto be continued . . .\u201d and nothing more.",
        "It was the best of times . . . it was the worst of times.",
        "\u201cAnd then . . . And then he was gone,\u201d she whispered.",
        "Ellipses can also show hesitation: \u201cI\u2026 I\u2019m not sure.\u201d",
        "The next stop was . . . Paris, of course.",
        '"Bohr [...] used the analogy of parallel stairways [...]" (Smith 55).',
        '"Hmm . . . Let me think," he said.',
        "The text [. . .] continues here.",
    ),
    ("If words are left off at the end of a sentence, and that is all that is omitted, "
     "indicate the omission with ellipsis marks (preceded and followed by a space) and then "
     "indicate the end of the sentence with a period . . . . Next sentence.",
     ["If words are left off at the end of a sentence, and that is all that is omitted, "
      "indicate the omission with ellipsis marks (preceded and followed by a space) and then "
      "indicate the end of the sentence with a period . . . .", "Next sentence."]),
    ("He whispered, \"I can't... I won't.\" Then he left.",
     ["He whispered, \"I can't... I won't.\"", "Then he left."]),
    ("One further habit which was somewhat weakened . . . was that of combining words into "
     "self-interpreting compounds. . . . The practice was not abandoned. . . .",
     ["One further habit which was somewhat weakened . . . was that of combining words into "
      "self-interpreting compounds. . . .", "The practice was not abandoned. . . ."]),
    ("I never meant that.... She left the store.",
     ["I never meant that....", "She left the store."]),
    ("Wait... Then it happened.", ["Wait...", "Then it happened."]),
    ("The original text reads: \u201cWe the People [...] establish this Constitution.\u201d It "
     "was signed in 1787.",
     ["The original text reads: \u201cWe the People [...] establish this Constitution.\u201d",
      "It was signed in 1787."]),
    ("According to the report, the costs (...) were higher than expected. The board was not "
     "pleased.",
     ["According to the report, the costs (...) were higher than expected.",
      "The board was not pleased."]),
    ("\u201cI don\u2019t know . . . maybe,\u201d he said quietly. Then he left.",
     ["\u201cI don\u2019t know . . . maybe,\u201d he said quietly.", "Then he left."]),
    ('"So... what now?" he asked. Nobody answered.',
     ['"So... what now?" he asked.', "Nobody answered."]),
    ("Loading... Please wait.", ["Loading...", "Please wait."]),
    ("\u201cI thought... Never mind,\u201d she said. \u201cIt doesn\u2019t matter.\u201d",
     ["\u201cI thought... Never mind,\u201d she said.", "\u201cIt doesn\u2019t matter.\u201d"]),
    ("She stopped. . . . Then she laughed.", ["She stopped. . . .", "Then she laughed."]),
    ("The excerpt [...] ends mid-sentence [...]. The rest is lost.",
     ["The excerpt [...] ends mid-sentence [...].", "The rest is lost."]),
    ("The first line [\u2026] The second line is missing.",
     ["The first line [\u2026] The second line is missing."]),
    ('"I wonder..." She paused. "Maybe tomorrow."',
     ['"I wonder..."', "She paused.", '"Maybe tomorrow."']),
)

MISSING_SPACES = _cases(
    "missing_spaces",
    ("This is the end.Next one starts here.", ["This is the end.", "Next one starts here."]),
    ("I saw it.It was huge.", ["I saw it.", "It was huge."]),
    ("The meeting is over.Thanks for coming!", ["The meeting is over.", "Thanks for coming!"]),
    ("Install it with pip.Then restart the server.",
     ["Install it with pip.", "Then restart the server."]),
    ("Really?Yes, really.", ["Really?", "Yes, really."]),
    ("It works!Try it yourself.", ["It works!", "Try it yourself."]),
    ("That was in 2019.The next year was harder.",
     ["That was in 2019.", "The next year was harder."]),
    ("Use Node.js for the backend.It scales well.",
     ["Use Node.js for the backend.", "It scales well."]),
    *_one(
        "Her name is Dr.Watson.",
        "The U.S.Army was involved.",
        "Email me at anna.Berg@example.com today.",
        "The file is named report.Final.docx on the server.",
        "The function is called os.path.join in Python.",
    ),
    ("We tested it.However, the results were mixed.",
     ["We tested it.", "However, the results were mixed."]),
    ("Mix well.Bake for 20 minutes.Serve warm.",
     ["Mix well.", "Bake for 20 minutes.", "Serve warm."]),
    ("See the docs.They explain everything.", ["See the docs.", "They explain everything."]),
)

MARKDOWN = _cases(
    "markdown",
    ("# Getting Started\nInstall the package first.",
     ["# Getting Started", "Install the package first."]),
    ("## Summary\n\nThe results are in, and they look good.",
     ["## Summary", "The results are in, and they look good."]),
    ("**Note:** This only works on Linux. Windows support is planned.",
     ["**Note:** This only works on Linux.", "Windows support is planned."]),
    ("Use `os.path.join()` to build paths. It handles separators for you.",
     ["Use `os.path.join()` to build paths.", "It handles separators for you."]),
    ("Run `pip install -r requirements.txt`. Then start the server.",
     ["Run `pip install -r requirements.txt`.", "Then start the server."]),
    ("This is **very** important. Don't skip it.",
     ["This is **very** important.", "Don't skip it."]),
    ("- **Speed:** It is fast.\n- **Cost:** It is cheap.",
     ["- **Speed:** It is fast.", "- **Cost:** It is cheap."]),
    ("### Step 1. Preheat the oven\nSet it to 180 degrees.",
     ["### Step 1. Preheat the oven", "Set it to 180 degrees."]),
    ("**Step 1.** Mix the flour. **Step 2.** Add the water.",
     ["**Step 1.** Mix the flour.", "**Step 2.** Add the water."]),
    ("The `config.Debug` flag turns on logging. Leave it off in production.",
     ["The `config.Debug` flag turns on logging.", "Leave it off in production."]),
    ("*Italic text.* Then plain text.", ["*Italic text.*", "Then plain text."]),
    ("> **Tip:** Save often.\n> It prevents data loss.",
     ["> **Tip:** Save often.", "> It prevents data loss."]),
    ("1. **Install** the CLI.\n2. **Log in** with your token.",
     ["1. **Install** the CLI.", "2. **Log in** with your token."]),
    ("_Important:_ back up your data first. Then run the upgrade.",
     ["_Important:_ back up your data first.", "Then run the upgrade."]),
    ("## FAQ\n### Is it free?\nYes. The basic plan costs nothing.",
     ["## FAQ", "### Is it free?", "Yes.", "The basic plan costs nothing."]),
    ("Call `client.close()` when done. Otherwise the socket stays open.",
     ["Call `client.close()` when done.", "Otherwise the socket stays open."]),
    ("See the [documentation](https://example.com/docs). It has examples.",
     ["See the [documentation](https://example.com/docs).", "It has examples."]),
)

CASES: list[Case] = [
    *PROSE, *ABBREVIATIONS, *ACRONYMS, *QUOTES, *LISTS_INLINE, *LISTS_ON_LINES, *NUMBERS,
    *URLS_EMAILS, *ELLIPSES, *MISSING_SPACES, *MARKDOWN,
]

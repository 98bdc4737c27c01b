redirect "carol@example.com";
redirect "Carol@Example.com";
keep;

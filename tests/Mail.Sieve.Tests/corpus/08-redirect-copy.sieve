require "copy";
redirect :copy "carol@example.com";
redirect :copy "dave@example.com";
